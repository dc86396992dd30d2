"""The SMTP sender's settings, parsed and checked without any I/O.

`smtp://user:pass@host:587` submits with STARTTLS (required, never plain text); `smtps://user:pass@host:465`
opens with TLS (implicit). User and password are percent-decoded, so `%40` carries an `@`.
"""

from __future__ import annotations

from dataclasses import field
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

from config.values import value

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


@value
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://` (STARTTLS) or `smtps://` (implicit TLS) with optional credentials; ValueError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("ATELIER_SMTP_URL must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)")
    if not parts.hostname:
        raise ValueError("ATELIER_SMTP_URL names no host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise ValueError("ATELIER_SMTP_URL has an invalid port") from exc
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def sender_domain(email_from: str) -> str:
    """The domain of the From address, used for Message-ID."""
    return parseaddr(email_from)[1].rpartition("@")[2]


def check_sender_settings(smtp_url: str | None, email_from: str | None) -> None:
    """Both are needed for the smtp sender; the From address must be a single plain address (with a name)."""
    if not smtp_url:
        raise ValueError("ATELIER_EMAIL_SENDER=smtp needs ATELIER_SMTP_URL")
    parse_smtp_url(smtp_url)
    if not email_from:
        raise ValueError("ATELIER_EMAIL_SENDER=smtp needs ATELIER_EMAIL_FROM")
    _name, address = parseaddr(email_from)
    if "@" not in address or not sender_domain(email_from) or any(c in email_from for c in "\r\n"):
        raise ValueError("ATELIER_EMAIL_FROM must be an address, e.g. 'Atelier <hello@example.com>'")
