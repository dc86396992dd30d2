"""Helpers for tests that need signed-in, onboarded people and a whole-database scan."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from config.values import value
from shared.kit.db import Database
from tests.support.tokens import bearer, hs256


@value
class Person:
    id: uuid.UUID
    email: str
    headers: dict[str, str]


def person(email: str | None = None, **claims: Any) -> Person:
    user_id = uuid.uuid4()
    email = email or f"user-{user_id.hex[:8]}@example.com"
    return Person(user_id, email, bearer(hs256(user_id=user_id, email=email, **claims)))


def onboard(client: TestClient, who: Person, **body: Any) -> dict[str, Any]:
    version = client.get("/v1/policies/current").json()["version"]
    payload: dict[str, Any] = {"age_confirmed": True, "accepted_policy_version": version}
    payload.update(body)
    response = client.post("/v1/me/onboarding", json=payload, headers=who.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def rows_mentioning(db: Database, needles: list[str]) -> list[tuple[str, str]]:
    """(table, column) of every text/uuid/json/inet column of every public table holding any needle."""
    found: list[tuple[str, str]] = []
    with db.transaction() as conn:
        columns = conn.execute(
            """select table_name, column_name from information_schema.columns
               where table_schema = 'public'
                 and data_type in ('text', 'character varying', 'uuid', 'jsonb', 'json', 'inet', 'character')
               order by table_name, column_name"""
        ).fetchall()
        for col in columns:
            for needle in needles:
                hit = conn.execute(
                    f'select 1 from "{col["table_name"]}" where "{col["column_name"]}"::text ilike %s limit 1',
                    (f"%{needle}%",),
                ).fetchone()
                if hit is not None:
                    found.append((col["table_name"], col["column_name"]))
    return found
