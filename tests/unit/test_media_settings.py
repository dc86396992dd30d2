"""The media settings read exactly the environment names operators set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import Settings

MEDIA_ENV = (
    "ATELIER_STORAGE",
    "ATELIER_STORAGE_BUCKET",
    "ATELIER_SIGNED_URL_SECONDS",
    "ATELIER_MAX_UPLOAD_BYTES",
    "ATELIER_MAX_UPLOAD_PIXELS",
    "ATELIER_TRASH_DAYS",
    "SUPABASE_URL",
    "SUPABASE_SECRET_KEY",
)


def test_media_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in MEDIA_ENV:
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.storage_kind == "local"
    assert settings.storage_bucket == "atelier"
    assert settings.signed_url_seconds == 3600
    assert settings.max_upload_bytes == 20 * 1024 * 1024
    assert settings.max_upload_pixels == 4096 * 4096
    assert settings.trash_days == 30


def test_media_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", "https://proj.supabase.co")
    monkeypatch.setenv("SUPABASE_SECRET_KEY", "sb_secret_x")
    monkeypatch.setenv("ATELIER_STORAGE_BUCKET", "studio-media")
    monkeypatch.setenv("ATELIER_SIGNED_URL_SECONDS", "900")
    monkeypatch.setenv("ATELIER_MAX_UPLOAD_BYTES", "1000000")
    monkeypatch.setenv("ATELIER_MAX_UPLOAD_PIXELS", "4000000")
    monkeypatch.setenv("ATELIER_TRASH_DAYS", "0")
    settings = Settings()
    assert settings.storage_kind == "supabase"  # chosen because Supabase is configured
    assert settings.storage_bucket == "studio-media"
    assert settings.signed_url_seconds == 900
    assert settings.max_upload_bytes == 1_000_000
    assert settings.max_upload_pixels == 4_000_000
    assert settings.trash_days == 0
    monkeypatch.setenv("ATELIER_STORAGE", "local")
    assert Settings().storage_kind == "local"


def test_media_settings_refuse_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("ATELIER_STORAGE", "s3"), ("ATELIER_TRASH_DAYS", "-1"), ("ATELIER_SIGNED_URL_SECONDS", "0")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ValidationError, match=name):
            Settings()
        monkeypatch.delenv(name)
