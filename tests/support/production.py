"""What a production configuration needs besides Supabase: a real email sender and the public URL for links."""

from __future__ import annotations

from typing import Any

import pytest

MAIL_ENV = {
    "ATELIER_EMAIL_SENDER": "smtp",
    "ATELIER_SMTP_URL": "smtps://mailer:s3cret@smtp.example.com:465",
    "ATELIER_EMAIL_FROM": "Atelier <hello@example.com>",
    "ATELIER_PUBLIC_URL": "https://api.example.com",
}

MAIL_SETTINGS: dict[str, Any] = {
    "email_sender": "smtp",
    "smtp_url": MAIL_ENV["ATELIER_SMTP_URL"],
    "email_from": MAIL_ENV["ATELIER_EMAIL_FROM"],
    "public_url": MAIL_ENV["ATELIER_PUBLIC_URL"],
}


def set_mail_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in MAIL_ENV.items():
        monkeypatch.setenv(name, value)
