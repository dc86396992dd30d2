"""Email settings: the SMTP URL forms, what the smtp sender needs, production refusing the log sender, and the
message's shape (multipart, Message-ID, Date, List-Unsubscribe only on non-transactional mail)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from config.email import parse_smtp_url
from config.settings import Settings
from shared.notify import mails
from shared.notify.email import LogEmailSender, OutgoingEmail, build_message
from shared.notify.smtp import SmtpEmailSender, email_sender_for
from tests.support.production import MAIL_ENV, set_mail_env


def test_smtp_urls() -> None:
    starttls = parse_smtp_url("smtp://apikey:s%40cret@smtp.example.com:587")
    assert (starttls.host, starttls.port, starttls.implicit_tls) == ("smtp.example.com", 587, False)
    assert (starttls.username, starttls.password) == ("apikey", "s@cret")
    assert "s@cret" not in repr(starttls)
    implicit = parse_smtp_url("smtps://smtp.example.com")
    assert (implicit.port, implicit.implicit_tls, implicit.username) == (465, True, None)
    assert parse_smtp_url("smtp://relay.example.com").port == 587
    for bad in ("http://smtp.example.com", "smtp://", "smtp://host:notaport", "smtp.example.com:587"):
        with pytest.raises(ValueError, match="ATELIER_SMTP_URL"):
            parse_smtp_url(bad)


def test_the_smtp_sender_needs_its_url_and_from_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_EMAIL_SENDER", "smtp")
    with pytest.raises(ValidationError, match="ATELIER_SMTP_URL"):
        Settings()
    monkeypatch.setenv("ATELIER_SMTP_URL", "smtp://u:p@smtp.example.com:587")
    with pytest.raises(ValidationError, match="ATELIER_EMAIL_FROM"):
        Settings()
    monkeypatch.setenv("ATELIER_EMAIL_FROM", "nobody")
    with pytest.raises(ValidationError, match="ATELIER_EMAIL_FROM"):
        Settings()
    monkeypatch.setenv("ATELIER_EMAIL_FROM", "Atelier <hello@example.com>")
    settings = Settings()
    assert isinstance(email_sender_for(settings), SmtpEmailSender)
    monkeypatch.setenv("ATELIER_EMAIL_SENDER", "carrier-pigeon")
    with pytest.raises(ValidationError, match="ATELIER_EMAIL_SENDER"):
        Settings()


def test_local_default_is_the_log_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*MAIL_ENV, "ATELIER_ENV", "ATELIER_PRODUCT_NAME"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.email_sender == "log"
    assert isinstance(email_sender_for(settings), LogEmailSender)
    assert settings.product_name == "Atelier"


def test_production_refuses_the_log_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example/postgres")
    monkeypatch.setenv("SUPABASE_URL", "https://proj.supabase.co")
    monkeypatch.setenv("SUPABASE_SECRET_KEY", "sb_secret_real")
    set_mail_env(monkeypatch)
    assert Settings().email_sender == "smtp"
    monkeypatch.setenv("ATELIER_EMAIL_SENDER", "log")
    with pytest.raises(ValidationError, match="ATELIER_EMAIL_SENDER"):
        Settings()
    monkeypatch.delenv("ATELIER_EMAIL_SENDER")  # the default is log, refused too
    with pytest.raises(ValidationError, match="ATELIER_EMAIL_SENDER"):
        Settings()
    monkeypatch.setenv("ATELIER_EMAIL_SENDER", "smtp")
    monkeypatch.delenv("ATELIER_PUBLIC_URL")
    with pytest.raises(ValidationError, match="ATELIER_PUBLIC_URL"):
        Settings()


SITE = mails.Site("Nine", "https://api.example.com", "https://app.example.com")


def _email(template: str, data: dict[str, Any]) -> OutgoingEmail:
    mail = mails.render(template, SITE, data)
    return OutgoingEmail(
        uuid.uuid4(), "ada@example.com", template, mail.subject, mail.text, mail.html, mail.transactional,
        None if mail.transactional else SITE.preferences_url,
    )  # fmt: skip


def test_messages_are_multipart_with_ids_and_unsubscribe_only_when_not_transactional() -> None:
    from datetime import UTC, datetime

    policy = {"kind": "terms", "version": 3, "effective_at": datetime(2030, 1, 2, tzinfo=UTC)}
    material = build_message(_email("policy_update", {**policy, "material": True}), email_from="Nine <n@nine.example>")
    assert material.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in material.iter_parts()] == ["text/plain", "text/html"]
    assert material["Message-ID"].endswith("@nine.example>")
    assert material["Date"]
    assert material["List-Unsubscribe"] is None
    assert "Nine" in material["Subject"]
    minor = build_message(_email("policy_update", {**policy, "material": False}), email_from="n@nine.example")
    assert minor["List-Unsubscribe"] == "<https://app.example.com/#/privacy>"


def test_user_text_cannot_break_headers_or_html() -> None:
    data = {"subject": "Help\r\nBcc: victim@example.com", "reply": "<script>x</script>", "source": "contact"}
    message = build_message(_email("support_reply", data), email_from="n@nine.example")
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert "<script>" not in str(html.get_content())
