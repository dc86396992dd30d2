"""The product catalogue is data, validated on load; the billing settings keep their contract names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import DEFAULT_PRODUCTS_FILE, Settings
from shared.billing.catalogue import CatalogueError, load_catalogue, parse_catalogue
from tests.support.production import set_mail_env

GOOD = """
[[product]]
polar_product_id = "p-1"
name = "Starter pack"
kind = "pack"
credits = 100

[[product]]
polar_product_id = "p-2"
name = "Monthly"
kind = "subscription"
credits = 500
"""


def test_the_shipped_catalogue_loads() -> None:
    catalogue = load_catalogue(DEFAULT_PRODUCTS_FILE)
    assert catalogue.products
    assert {p.kind for p in catalogue} <= {"pack", "subscription"}
    assert all(p.credits > 0 for p in catalogue)


def test_a_valid_catalogue_parses_and_finds_products() -> None:
    catalogue = parse_catalogue(GOOD)
    starter = catalogue.get("p-1")
    assert starter is not None
    assert (starter.name, starter.kind, starter.credits) == ("Starter pack", "pack", 100)
    assert catalogue.get("p-3") is None
    assert catalogue.get(None) is None
    assert (starter.price_amount, starter.price_currency) == (None, None)


def test_a_price_is_read_with_its_currency() -> None:
    priced = parse_catalogue(
        GOOD.replace("credits = 100", 'credits = 100\nprice_amount = 500\nprice_currency = "EUR"', 1)
    )
    starter = priced.get("p-1")
    assert starter is not None
    assert (starter.price_amount, starter.price_currency) == (500, "eur")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('kind = "pack"', 'kind = "bundle"'), "kind must be one of"),
        (("credits = 100", "credits = 0"), "credits must be a whole number > 0"),
        (("credits = 100", "credits = -5"), "credits must be a whole number > 0"),
        (("credits = 100", "credits = 1.5"), "credits must be a whole number > 0"),
        (("credits = 100", "credits = true"), "credits must be a whole number > 0"),
        (('polar_product_id = "p-2"', 'polar_product_id = "p-1"'), "appears twice"),
        (('name = "Starter pack"\n', ""), "missing fields"),
        (("credits = 100", "credits = 100\nprice = 5"), "unknown fields"),
        (('polar_product_id = "p-1"', 'polar_product_id = ""'), "polar_product_id must be"),
        (("credits = 100", "credits = 100\nprice_amount = 500"), "together"),
        (("credits = 100", 'credits = 100\nprice_amount = -1\nprice_currency = "usd"'), "cents >= 0"),
        (("credits = 100", 'credits = 100\nprice_amount = 500\nprice_currency = "dollars"'), "ISO 4217"),
        (("[[product]]", "[[products]]"), "unknown top-level keys"),
        (("credits = 100", "credits = "), "not valid TOML"),
    ],
)
def test_invalid_catalogues_are_refused_with_a_reason(change: tuple[str, str], message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(GOOD.replace(*change, 1))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="not found"):
        load_catalogue(tmp_path / "nope.toml")


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "products.toml"
    path.write_text(GOOD)
    assert load_catalogue(path).get("p-1") is not None
    path.write_text(GOOD.replace('"p-1"', '"p-9"'))
    os.utime(path, ns=(1, 10**18))
    assert load_catalogue(path).get("p-9") is not None


_BILLING_ENV = (
    "POLAR_ACCESS_TOKEN",
    "POLAR_WEBHOOK_SECRET",
    "POLAR_SERVER",
    "POLAR_API_URL",
    "ATELIER_PRODUCTS_FILE",
    "ATELIER_CHECKOUT_SUCCESS_URL",
    "ATELIER_PORTAL_RETURN_URL",
)


def test_billing_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _BILLING_ENV:
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.polar_server == "sandbox"
    assert settings.products_file == DEFAULT_PRODUCTS_FILE
    assert not settings.billing_enabled
    assert settings.polar_webhook_secret is None


def test_billing_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLAR_ACCESS_TOKEN", "polar_oat_x")
    monkeypatch.setenv("POLAR_WEBHOOK_SECRET", "whsec_abc")
    monkeypatch.setenv("POLAR_SERVER", "production")
    monkeypatch.setenv("POLAR_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ATELIER_PRODUCTS_FILE", "/srv/products.toml")
    monkeypatch.setenv("ATELIER_CHECKOUT_SUCCESS_URL", "https://studio.example/thanks")
    monkeypatch.setenv("ATELIER_PORTAL_RETURN_URL", "https://studio.example/account")
    settings = Settings()
    assert (settings.polar_access_token, settings.polar_webhook_secret) == ("polar_oat_x", "whsec_abc")
    assert (settings.polar_server, settings.polar_api_url) == ("production", "http://127.0.0.1:9")
    assert settings.products_file == Path("/srv/products.toml")
    assert settings.checkout_success_url == "https://studio.example/thanks"
    assert settings.portal_return_url == "https://studio.example/account"
    assert settings.billing_enabled
    monkeypatch.setenv("POLAR_SERVER", "staging")
    with pytest.raises(ValidationError, match="POLAR_SERVER"):
        Settings()


def _production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_ENV", "production")
    set_mail_env(monkeypatch)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example/postgres")
    monkeypatch.setenv("SUPABASE_URL", "https://proj.supabase.co")
    monkeypatch.setenv("SUPABASE_SECRET_KEY", "sb_secret_real")
    for name in _BILLING_ENV:
        monkeypatch.delenv(name, raising=False)


def test_production_without_billing_needs_no_polar_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch)
    assert Settings().is_production


@pytest.mark.parametrize(
    ("token", "secret", "bad"),
    [
        ("polar_oat_real", None, "POLAR_WEBHOOK_SECRET"),
        (None, "whsec_real", "POLAR_ACCESS_TOKEN"),
        ("changeme", "whsec_real", "POLAR_ACCESS_TOKEN"),
        ("polar_oat_real", "secret", "POLAR_WEBHOOK_SECRET"),
    ],
)
def test_production_with_billing_refuses_missing_or_placeholder_polar_secrets(
    monkeypatch: pytest.MonkeyPatch, token: str | None, secret: str | None, bad: str
) -> None:
    _production(monkeypatch)
    if token is not None:
        monkeypatch.setenv("POLAR_ACCESS_TOKEN", token)
    if secret is not None:
        monkeypatch.setenv("POLAR_WEBHOOK_SECRET", secret)
    with pytest.raises(ValidationError, match=bad):
        Settings()
    monkeypatch.setenv("POLAR_ACCESS_TOKEN", "polar_oat_real")
    monkeypatch.setenv("POLAR_WEBHOOK_SECRET", "whsec_real")
    assert Settings().billing_enabled
