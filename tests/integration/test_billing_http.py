"""Catalogue, checkout and portal over HTTP, with Polar played by a loopback server that checks what
polar-sdk actually sends (path, auth, version header, JSON body)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from polar.v2026_10 import outputs

from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database
from tests.support import polar as fixtures
from tests.support.loopback import Loopback, Recorded, Reply, loopback_server
from tests.support.tokens import HS256_SECRET, bearer, hs256

TOKEN = "polar_oat_test_token"
PRODUCTS = """
[[product]]
polar_product_id = "prod-starter"
name = "Starter pack"
kind = "pack"
credits = 100
price_amount = 500
price_currency = "USD"

[[product]]
polar_product_id = "prod-monthly"
name = "Monthly"
kind = "subscription"
credits = 500
"""


def _checkout(request: Recorded) -> Reply:
    body = json.loads(request.body)
    return Reply(201, fixtures.build(outputs.Checkout, url=f"https://polar.example/checkout/{body['products'][0]}"))


def _session(request: Recorded) -> Reply:
    return Reply(201, fixtures.build(outputs.CustomerSession, customer_portal_url="https://polar.example/portal/s1"))


@pytest.fixture
def polar() -> Iterator[Loopback]:
    with loopback_server({("POST", "/v1/checkouts/"): _checkout, ("POST", "/v1/customer-sessions/"): _session}) as srv:
        yield srv


def member(client: TestClient, **claims: Any) -> dict[str, str]:
    """Headers of a user who finished onboarding (checkout and the portal need it)."""
    headers = bearer(hs256(**claims))
    version = client.get("/v1/policies/current").json()["version"]
    body = {"age_confirmed": True, "accepted_policy_version": version}
    assert client.post("/v1/me/onboarding", headers=headers, json=body).status_code == 200
    return headers


def _settings(tmp_path: Path, polar_url: str | None, **extra: object) -> Settings:
    products = tmp_path / "products.toml"
    products.write_text(PRODUCTS)
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "supabase_jwt_secret": HS256_SECRET,
        "products_file": products,
        "polar_access_token": TOKEN,
        "polar_api_url": polar_url,
        "checkout_success_url": "https://studio.example/thanks",
        "portal_return_url": "https://studio.example/account",
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def billing_client(tmp_path: Path, db: Database, polar: Loopback) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path, polar.url), db)) as client:
        yield client


def test_products_are_public_and_come_from_the_catalogue_file(billing_client: TestClient) -> None:
    response = billing_client.get("/v1/billing/products")
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "product_id": "prod-starter",
                "name": "Starter pack",
                "kind": "pack",
                "credits": 100,
                "price_amount": 500,
                "price_currency": "usd",
            },
            {
                "product_id": "prod-monthly",
                "name": "Monthly",
                "kind": "subscription",
                "credits": 500,
                "price_amount": None,
                "price_currency": None,
            },
        ],
        "next_cursor": None,
    }


def test_checkout_sends_our_user_id_never_the_email(billing_client: TestClient, polar: Loopback) -> None:
    user_id = uuid.uuid4()
    response = billing_client.post(
        "/v1/billing/checkout",
        json={"product_id": "prod-starter"},
        headers=member(billing_client, sub=str(user_id), email="ada@example.com"),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"url": "https://polar.example/checkout/prod-starter"}
    [sent] = polar.requests
    assert (sent.method, sent.path) == ("POST", "/v1/checkouts/")
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["polar-version"] == "2026-10"
    body = json.loads(sent.body)
    assert body["products"] == ["prod-starter"]
    assert body["external_customer_id"] == str(user_id)
    assert body["success_url"] == "https://studio.example/thanks"
    assert body["metadata"] == {"atelier_user_id": str(user_id), "atelier_product_id": "prod-starter"}
    assert "ada@example.com" not in sent.body.decode()
    assert "customer_email" not in body


def test_checkout_for_an_unknown_product_is_404_and_calls_nobody(billing_client: TestClient, polar: Loopback) -> None:
    headers = member(billing_client)
    response = billing_client.post("/v1/billing/checkout", json={"product_id": "prod-nope"}, headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_product"
    missing = billing_client.post("/v1/billing/checkout", json={}, headers=headers)
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "invalid_request"
    assert polar.requests == []


def test_checkout_needs_a_caller(billing_client: TestClient, polar: Loopback) -> None:
    response = billing_client.post("/v1/billing/checkout", json={"product_id": "prod-starter"})
    assert response.status_code == 401
    assert polar.requests == []


def test_portal_session_for_our_user_id(billing_client: TestClient, polar: Loopback) -> None:
    user_id = uuid.uuid4()
    response = billing_client.post("/v1/billing/portal", headers=member(billing_client, sub=str(user_id)))
    assert response.status_code == 200, response.text
    assert response.json() == {"url": "https://polar.example/portal/s1"}
    [sent] = polar.requests
    assert (sent.method, sent.path) == ("POST", "/v1/customer-sessions/")
    assert {k.lower(): v for k, v in sent.headers.items()}["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(sent.body) == {
        "external_customer_id": str(user_id),
        "return_url": "https://studio.example/account",
    }


def test_polar_errors_become_502(billing_client: TestClient, polar: Loopback) -> None:
    polar.routes[("POST", "/v1/checkouts/")] = lambda _: Reply(500, {"detail": "boom"})
    response = billing_client.post(
        "/v1/billing/checkout", json={"product_id": "prod-starter"}, headers=member(billing_client)
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"


def test_an_unreachable_polar_times_out_into_502(tmp_path: Path, db: Database) -> None:
    with loopback_server() as dead:
        url = dead.url  # closed once the block ends: connections are refused
    settings = _settings(tmp_path, url, http_timeout_seconds=2.0)
    with TestClient(create_app(settings, db)) as client:
        response = client.post("/v1/billing/portal", headers=member(client))
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"


def test_without_an_access_token_billing_is_disabled(tmp_path: Path, db: Database, polar: Loopback) -> None:
    with TestClient(create_app(_settings(tmp_path, polar.url, polar_access_token=None), db)) as client:
        response = client.post("/v1/billing/portal", headers=member(client))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "billing_disabled"
    assert polar.requests == []
