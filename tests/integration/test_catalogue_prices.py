"""`deploy.py deploy` reads each catalogue product from Polar (polar-sdk against the loopback fake, answering as
Polar answers) and refuses a placeholder id, an unknown or archived product, or a price the pages would show that
Polar does not charge, naming the product."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from shared.billing.catalogue import parse_catalogue
from shared.billing.polar_api import catalogue_problems, make_client
from tests.support.loopback import Loopback
from tests.support.polar import TOKEN, polar_api, product, serve_products

ROOT = Path(__file__).resolve().parents[2]
STARTER = "5b0b6a52-4d2b-4a52-9a52-0000000000a1"
MONTHLY = "5b0b6a52-4d2b-4a52-9a52-0000000000a2"


def _toml(*entries: tuple[str, str, str, int | None]) -> str:
    text = ""
    for product_id, name, kind, amount in entries:
        text += f'[[product]]\npolar_product_id = "{product_id}"\nname = "{name}"\nkind = "{kind}"\ncredits = 100\n'
        if amount is not None:
            text += f'price_amount = {amount}\nprice_currency = "usd"\n'
    return text


@pytest.fixture
def polar() -> Iterator[Loopback]:
    with polar_api() as server:
        serve_products(
            server, {STARTER: product(STARTER, amount=500), MONTHLY: product(MONTHLY, amount=1500, recurring=True)}
        )
        yield server


def _problems(polar: Loopback, text: str) -> list[str]:
    settings = Settings(polar_access_token=TOKEN, polar_api_url=polar.url)
    with make_client(settings) as client:
        return catalogue_problems(client, parse_catalogue(text))


def test_a_catalogue_that_matches_polar_passes(polar: Loopback) -> None:
    text = _toml((STARTER, "Starter", "pack", 500), (MONTHLY, "Monthly", "subscription", 1500))
    assert _problems(polar, text) == []
    assert [(r.method, r.path) for r in polar.requests] == [
        ("GET", f"/v1/products/{STARTER}"),
        ("GET", f"/v1/products/{MONTHLY}"),
    ]


def test_a_different_price_is_refused_naming_the_product_and_both_prices(polar: Loopback) -> None:
    problems = _problems(polar, _toml((STARTER, "Starter", "pack", 400)))
    assert len(problems) == 1
    assert "'Starter'" in problems[0]
    assert "shows 400 usd, Polar charges 500 usd" in problems[0]


def test_placeholders_unknown_and_kind_mismatches_are_refused(polar: Loopback) -> None:
    text = _toml(
        ("00000000-0000-4000-8000-000000000101", "Example", "pack", 500),
        ("5b0b6a52-4d2b-4a52-9a52-0000000000ff", "Gone", "pack", None),
        (MONTHLY, "Monthly", "pack", None),
    )
    serve_products(polar, {"5b0b6a52-4d2b-4a52-9a52-0000000000ff": None})
    problems = _problems(polar, text)
    assert "'Example'" in problems[0]
    assert "placeholder" in problems[0]
    assert "'Gone'" in problems[1]
    assert "no such product" in problems[1]
    assert "'Monthly'" in problems[2]
    assert "Polar sells a subscription" in problems[2]
    assert len(problems) == 3
    assert all("00000000-0000-4000-8000-000000000101" not in r.path for r in polar.requests)  # never asked


def test_a_pay_what_you_want_price_never_matches_a_shown_amount(polar: Loopback) -> None:
    serve_products(polar, {STARTER: product(STARTER, amount=None)})
    assert "Polar charges no fixed price" in _problems(polar, _toml((STARTER, "Starter", "pack", 500)))[0]


def test_deploy_refuses_the_shipped_placeholder_catalogue_before_touching_the_database(
    polar: Loopback, tmp_path: Path
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "SUPABASE_", "POLAR_", "MODAL_"))}
    clean.update({
        "HOME": str(tmp_path), "ATELIER_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "SUPABASE_URL": "http://127.0.0.1:1",
        "SUPABASE_SECRET_KEY": "x", "POLAR_ACCESS_TOKEN": TOKEN, "POLAR_API_URL": polar.url,
        "ATELIER_CONTROLLER_NAME": "Atelier Studio SAS", "ATELIER_CONTROLLER_ADDRESS": "12 rue de l'Exemple, Paris",
        "ATELIER_CONTROLLER_EMAIL": "privacy@atelier.example", "ATELIER_SUPERVISORY_AUTHORITY": "CNIL https://www.cnil.fr",
        "ATELIER_PROCESSOR_REGIONS": "supabase=EU (Frankfurt);modal=United States;polar=United States",
        "ATELIER_TRANSFER_SAFEGUARDS": "supabase=none: stays in the EEA;modal=SCCs;polar=SCCs",
    })  # fmt: skip
    result = subprocess.run(
        [sys.executable, "deploy.py", "deploy"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "deploy refused: product 'Starter pack' (00000000-0000-4000-8000-000000000101)" in result.stderr
    assert "placeholder" in result.stderr
    assert "migration" not in result.stdout
