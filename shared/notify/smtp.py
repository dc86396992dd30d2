"""The SMTP sender: one adapter for every transactional provider (Postmark, Resend, SES, Supabase's SMTP).

`smtp://` upgrades with STARTTLS before anything else is said (a server that does not offer it is refused:
credentials and mail never travel in the clear); `smtps://` starts with TLS. The connection is opened on the
first message and reused; any failure closes it and the next message opens a fresh one.

Failures are classified for the outbox: while connecting, upgrading or logging in → `SenderUnavailable`
(nothing else can go either); a 4xx reply or a timeout while sending → transient; a 5xx reply to MAIL, RCPT
or DATA → permanent for that message.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.utils import parseaddr

from config.email import SmtpTarget, parse_smtp_url
from config.settings import Settings
from shared.notify.email import (
    EmailFailure,
    EmailSender,
    LogEmailSender,
    OutgoingEmail,
    PermanentEmailError,
    SenderUnavailable,
    TransientEmailError,
    build_message,
)

log = logging.getLogger("atelier.email.smtp")


def _timed_out(exc: BaseException) -> bool:
    """smtplib reports a read timeout as SMTPServerDisconnected raised while handling the TimeoutError."""
    return isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)


def _classify(code: int) -> EmailFailure:
    """5xx refuses this message for good; anything else (4xx, odd codes) is worth another try."""
    if 500 <= code < 600:
        return PermanentEmailError(f"smtp_{code}")
    return TransientEmailError(f"smtp_{code}")


class SmtpEmailSender:
    """Delivers OutgoingEmail over SMTP with TLS; `ssl_context` defaults to the system's trust store."""

    def __init__(
        self,
        target: SmtpTarget,
        *,
        email_from: str,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = target
        self.email_from = email_from
        self.envelope_from = parseaddr(email_from)[1]
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> SmtpEmailSender:
        if not settings.smtp_url or not settings.email_from:
            raise ValueError("the smtp sender needs ATELIER_SMTP_URL and ATELIER_EMAIL_FROM")
        if ssl_context is None and settings.smtp_ca_file is not None:
            ssl_context = ssl.create_default_context(cafile=str(settings.smtp_ca_file))
        return cls(
            parse_smtp_url(settings.smtp_url),
            email_from=settings.email_from,
            timeout=settings.smtp_timeout_seconds,
            ssl_context=ssl_context,
        )

    def _open(self) -> smtplib.SMTP:
        target = self.target
        smtp: smtplib.SMTP
        try:
            if target.implicit_tls:
                smtp = smtplib.SMTP_SSL(target.host, target.port, timeout=self.timeout, context=self.ssl_context)
            else:
                smtp = smtplib.SMTP(target.host, target.port, timeout=self.timeout)
            try:
                smtp.ehlo()
                if not target.implicit_tls:
                    if not smtp.has_extn("starttls"):
                        raise SenderUnavailable("starttls_not_offered")
                    smtp.starttls(context=self.ssl_context)
                    smtp.ehlo()
                if target.username is not None:
                    smtp.login(target.username, target.password or "")
            except BaseException:
                smtp.close()
                raise
        except SenderUnavailable:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise SenderUnavailable(f"login_refused_{exc.smtp_code}") from None
        except smtplib.SMTPResponseException as exc:
            raise SenderUnavailable(f"smtp_{exc.smtp_code}") from None
        except ssl.SSLError:
            raise SenderUnavailable("tls_failed") from None
        except TimeoutError:
            raise SenderUnavailable("timeout") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SenderUnavailable("timeout" if _timed_out(exc) else "connection_failed") from None
        return smtp

    def send(self, email: OutgoingEmail) -> None:
        message = build_message(email, email_from=self.email_from)
        if self._smtp is None:
            self._smtp = self._open()
        try:
            self._smtp.send_message(message, from_addr=self.envelope_from, to_addrs=[email.to])
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            raise _classify(codes[0] if codes else 550) from None
        except smtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused, or 421 closing
            self.close()
            raise _classify(exc.smtp_code) from None
        except TimeoutError:
            self.close()
            raise TransientEmailError("timeout") from None
        except smtplib.SMTPNotSupportedError:  # a non-ASCII address and no SMTPUTF8 on the server
            self.close()
            raise PermanentEmailError("smtputf8_not_supported") from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise TransientEmailError("timeout" if _timed_out(exc) else "connection_lost") from None
        log.info("email %s (%s) accepted by the SMTP server", email.outbox_id, email.template)

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def email_sender_for(settings: Settings) -> EmailSender:
    """The sender ATELIER_EMAIL_SENDER names: `log` (local: outbox ids only) or `smtp`."""
    if settings.email_sender == "smtp":
        return SmtpEmailSender.from_settings(settings)
    return LogEmailSender()
