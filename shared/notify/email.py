"""One email, the senders that deliver it, and how a failure is classified.

A sender raises `TransientEmailError` (try again later: SMTP 4xx, timeouts, the server unreachable) or
`PermanentEmailError` (SMTP 5xx for this message: never retried). Neither the address nor the text is
ever logged: only the outbox id, the template and a failure code.
"""

from __future__ import annotations

import logging
import re
from dataclasses import field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from uuid import UUID

from config.email import sender_domain
from config.values import value

log = logging.getLogger("atelier.email")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@value
class OutgoingEmail:
    outbox_id: UUID
    to: str = field(repr=False)
    template: str
    subject: str
    body: str = field(repr=False)  # plain text
    html: str | None = field(default=None, repr=False)
    transactional: bool = True  # False: List-Unsubscribe is set
    unsubscribe_url: str | None = None


class EmailFailure(Exception):
    """Delivery failed; `code` (e.g. `smtp_550`, `timeout`) is what the outbox records."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class TransientEmailError(EmailFailure):
    """Try again later (SMTP 4xx, a timeout, the server unreachable)."""


class PermanentEmailError(EmailFailure):
    """The server refused this message for good (SMTP 5xx); retrying cannot help."""


class SenderUnavailable(TransientEmailError):
    """The sender as a whole failed (connect, TLS, login): no later message in this run can succeed either."""


class EmailSender(Protocol):
    """Delivers one email or raises; must never log the address."""

    def send(self, email: OutgoingEmail) -> None: ...


def one_line(text: str) -> str:
    """A header value from text that may hold user input: no line breaks or control characters."""
    return _CONTROL.sub(" ", text).strip()


def build_message(email: OutgoingEmail, *, email_from: str) -> EmailMessage:
    """multipart/alternative (text, then HTML) with Date, a Message-ID stable across retries, and
    List-Unsubscribe on anything that is not strictly transactional."""
    message = EmailMessage()
    message["From"] = email_from
    message["To"] = email.to
    message["Subject"] = one_line(email.subject)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{email.outbox_id}@{sender_domain(email_from) or 'localhost'}>"
    message["Auto-Submitted"] = "auto-generated"
    if not email.transactional:
        if not email.unsubscribe_url:
            raise ValueError("a non-transactional email needs an unsubscribe link")
        message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
    message.set_content(email.body)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    return message


class LogEmailSender:
    """The local adapter: records that an email would be sent, by outbox id, never by address."""

    def __init__(self) -> None:
        self.sent: list[UUID] = []

    def send(self, email: OutgoingEmail) -> None:
        self.sent.append(email.outbox_id)
        log.info("email %s (%s) delivered by the log sender", email.outbox_id, email.template)
