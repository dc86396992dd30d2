"""Environment names for consent, policies and device data, and the cookie registry's rules."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from fastapi import Response

from config.cookies import CONSENT_CATEGORIES, COOKIES
from config.policies import KINDS, shipped_text
from config.settings import Settings
from functions.api.cookies import set_cookie
from shared.access.onboarding import block_hash


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    monkeypatch.setenv("ATELIER_SECURITY_LOG_RETENTION_DAYS", "30")
    monkeypatch.setenv("ATELIER_SIGNUP_BLOCK_SALT", "pepper")
    monkeypatch.setenv("ATELIER_SIGNUP_BLOCK_HOURS", "2")
    monkeypatch.setenv("ATELIER_EMAIL_SENDER", "log")
    settings = Settings()
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.0.2.1"]
    assert settings.security_log_retention_days == 30
    assert settings.signup_block_salt == "pepper"
    assert settings.signup_block_hours == 2


def test_block_hash_is_salted_and_stable(tmp_path: Path) -> None:
    user_id = uuid4()
    a = Settings(data_dir=tmp_path, signup_block_salt="one")
    b = Settings(data_dir=tmp_path, signup_block_salt="two")
    from_file = Settings(data_dir=tmp_path)
    assert block_hash(a, user_id) == block_hash(a, user_id)
    assert block_hash(a, user_id) != block_hash(b, user_id)
    assert str(user_id) not in block_hash(a, user_id)
    assert block_hash(from_file, user_id) == block_hash(from_file, user_id)
    assert from_file.signup_block_salt_path.exists()


def test_registry_shape() -> None:
    names = [c.name for c in COOKIES]
    assert len(names) == len(set(names))
    for c in COOKIES:
        assert c.purpose
        assert c.essential or c.category in CONSENT_CATEGORIES
    for kind in KINDS:
        assert shipped_text(kind).strip()


def test_set_cookie_refuses_optional_cookies_without_consent_and_unknown_ones() -> None:
    response = Response()
    assert set_cookie(response, "atelier_aid", "x", allowed=False) is False
    assert "set-cookie" not in response.headers
    assert set_cookie(response, "atelier_device", "dev-12345678", allowed=False) is True
    assert set_cookie(response, "atelier_aid", "x", allowed=True) is True
    assert len(response.headers.getlist("set-cookie")) == 2
    with pytest.raises(KeyError):
        set_cookie(response, "tracking", "x", allowed=True)
