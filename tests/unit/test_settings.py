from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings
from tests.support.production import set_mail_env


def test_local_defaults_need_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "ATELIER_DATA_DIR",
        "SUPABASE_URL",
        "SUPABASE_JWT_SECRET",
        "ATELIER_ENV",
        "CORS_ORIGINS",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.environment == "local"
    assert settings.database_url is None
    assert settings.data_dir == Path(".data")
    assert settings.cors_origins == []


def test_contract_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:6543/postgres")
    monkeypatch.setenv("ATELIER_DATA_DIR", "/srv/atelier")
    monkeypatch.setenv("SUPABASE_URL", "https://proj.supabase.co/")
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "jwt-secret")
    monkeypatch.setenv("SUPABASE_SECRET_KEY", "sb_secret_x")
    monkeypatch.setenv("CORS_ORIGINS", "https://studio.example, https://www.studio.example/")
    settings = Settings()
    assert settings.database_url == "postgresql://u:p@db.example:6543/postgres"
    assert settings.data_dir == Path("/srv/atelier")
    assert settings.supabase_issuer == "https://proj.supabase.co/auth/v1"
    assert settings.supabase_jwks_url == "https://proj.supabase.co/auth/v1/.well-known/jwks.json"
    assert settings.supabase_jwt_secret == "jwt-secret"
    assert settings.supabase_secret_key == "sb_secret_x"
    assert settings.cors_origins == ["https://studio.example", "https://www.studio.example"]


@pytest.mark.parametrize("missing", ["DATABASE_URL", "SUPABASE_URL", "SUPABASE_SECRET_KEY"])
def test_production_refuses_missing_secrets(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setenv("ATELIER_ENV", "production")
    set_mail_env(monkeypatch)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example/postgres")
    monkeypatch.setenv("SUPABASE_URL", "https://proj.supabase.co")
    monkeypatch.setenv("SUPABASE_SECRET_KEY", "sb_secret_real")
    monkeypatch.delenv(missing)
    with pytest.raises(ValidationError, match=missing):
        Settings()


def test_production_refuses_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_ENV", "production")
    set_mail_env(monkeypatch)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example/postgres")
    monkeypatch.setenv("SUPABASE_URL", "https://proj.supabase.co")
    monkeypatch.setenv("SUPABASE_SECRET_KEY", "changeme")
    with pytest.raises(ValidationError, match="SUPABASE_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("SUPABASE_SECRET_KEY", "sb_secret_real")
    assert Settings().is_production


def test_env_file_named_at_construction_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The `.env` source is left out only when no file is named (cold start, issue 34): a named one is still read,
    below the environment, as pydantic-settings orders them."""
    env_file = tmp_path / ".env"
    env_file.write_text("ATELIER_MAX_ACTIVE_JOBS=7\nATELIER_MAX_PROMPT_CHARS=300\n")
    monkeypatch.delenv("ATELIER_MAX_ACTIVE_JOBS", raising=False)
    monkeypatch.setenv("ATELIER_MAX_PROMPT_CHARS", "500")
    settings = Settings(_env_file=env_file)
    assert settings.max_active_jobs == 7
    assert settings.max_prompt_chars == 500
    assert Settings().max_active_jobs == 4
