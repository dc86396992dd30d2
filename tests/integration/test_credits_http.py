"""GET /v1/credits and /v1/credits/ledger over HTTP, with real tokens and the real database."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from shared.credits import service as credits
from shared.kit.db import Database
from tests.support.tokens import bearer, hs256


def _headers(user_id: uuid.UUID) -> dict[str, str]:
    return bearer(hs256(user_id=user_id))


def test_a_new_user_sees_their_signup_credits(client: TestClient) -> None:
    user = uuid.uuid4()
    response = client.get("/v1/credits", headers=_headers(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["available"], body["pending"]) == (10, 0)
    [grant] = body["grants"]
    assert set(grant) == {"id", "kind", "amount", "remaining", "expires_at", "created_at"}
    assert (grant["kind"], grant["amount"], grant["remaining"]) == ("signup", 10, 10)
    lifetime = datetime.fromisoformat(grant["expires_at"]) - datetime.fromisoformat(grant["created_at"])
    assert lifetime == timedelta(days=30)
    # A second call does not grant again.
    assert client.get("/v1/credits", headers=_headers(user)).json()["available"] == 10


def test_balance_and_grants_follow_holds(client: TestClient, db: Database) -> None:
    user = uuid.uuid4()
    client.get("/v1/me", headers=_headers(user))
    with db.transaction() as conn:
        credits.grant(conn, user_id=user, amount=100, kind="purchase", source_ref="order_1", expires_at=None)
        hold = credits.reserve(conn, user_id=user, amount=12, ref="job_1")
        credits.post(conn, hold.id, 7)
        credits.reserve(conn, user_id=user, amount=3, ref="job_2")
    body = client.get("/v1/credits", headers=_headers(user)).json()
    assert (body["available"], body["pending"]) == (100, 3)
    assert [(g["kind"], g["remaining"]) for g in body["grants"]] == [("signup", 0), ("purchase", 100)]


def test_ledger_pages_newest_first_with_a_cursor(client: TestClient, db: Database) -> None:
    user = uuid.uuid4()
    client.get("/v1/me", headers=_headers(user))
    with db.transaction() as conn:
        for i in range(6):
            credits.grant(conn, user_id=user, amount=i + 1, kind="purchase", source_ref=f"o{i}", expires_at=None)
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/credits/ledger", params=params, headers=_headers(user))
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= 3
        seen.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3  # 7 entries (signup + 6 grants), 3 per page
    assert len({e["id"] for e in seen}) == 7
    assert sorted(e["amount"] for e in seen) == [1, 2, 3, 4, 5, 6, 10]
    assert {e["type"] for e in seen} == {"grant"}
    assert {"id", "type", "amount", "created_at", "ref"} <= set(seen[0])
    keys = [(e["created_at"], e["id"]) for e in seen]
    assert keys == sorted(keys, reverse=True)

    bad = client.get("/v1/credits/ledger", params={"cursor": "garbage!"}, headers=_headers(user))
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_cursor")
    too_many = client.get("/v1/credits/ledger", params={"limit": 1000}, headers=_headers(user))
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (422, "invalid_request")


def test_another_users_credits_are_never_visible(client: TestClient, db: Database) -> None:
    ada, bob = uuid.uuid4(), uuid.uuid4()
    client.get("/v1/me", headers=_headers(ada))
    with db.transaction() as conn:
        credits.grant(conn, user_id=ada, amount=500, kind="purchase", source_ref="ada_order", expires_at=None)
        credits.reserve(conn, user_id=ada, amount=20, ref="ada_job")
    ada_ledger = client.get("/v1/credits/ledger", headers=_headers(ada)).json()
    assert len(ada_ledger["items"]) == 3

    bob_view = client.get("/v1/credits", headers=_headers(bob)).json()
    assert (bob_view["available"], bob_view["pending"]) == (10, 0)
    assert [g["kind"] for g in bob_view["grants"]] == ["signup"]
    bob_ledger = client.get("/v1/credits/ledger", headers=_headers(bob)).json()
    assert [e["ref"] for e in bob_ledger["items"]] == [f"signup:{bob}"]
    # Ada's cursor gives Bob nothing of hers either.
    ada_page = client.get("/v1/credits/ledger", params={"limit": 1}, headers=_headers(ada)).json()
    leaked = client.get("/v1/credits/ledger", params={"cursor": ada_page["next_cursor"]}, headers=_headers(bob))
    assert all(e["ref"] == f"signup:{bob}" for e in leaked.json()["items"])


def test_credits_need_a_token(client: TestClient) -> None:
    for path in ("/v1/credits", "/v1/credits/ledger"):
        response = client.get(path)
        assert (response.status_code, response.json()["error"]["code"]) == (401, "missing_token")
