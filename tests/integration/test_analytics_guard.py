"""The analytics guard in one statement (`can_process` for analytics and marketing, `record_analytics_if_allowed`)
answers what its parts answer: not held (`is_held`) and that category on in the consent in force
(`consent.current`: the account's latest event, else the device's anonymous one), never under GPC."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from shared.access.guard import Purpose, can_process, is_held, record_analytics_if_allowed
from shared.consent import service as consent
from shared.kit.db import Database
from shared.kit.db.database import Connection
from tests.support.people import Person, person


def _device() -> str:
    return f"dev-{uuid.uuid4().hex}"


def _consent(client: TestClient, device: str, analytics: bool, who: Person | None = None) -> None:
    body = {"device_id": device, "categories": {"analytics": analytics, "marketing": analytics}, "notice_version": 1}
    response = client.post("/v1/consents", json=body, headers=who.headers if who else {})
    assert response.status_code == 201, response.text


def _signed_in(client: TestClient) -> Person:
    who = person()
    assert client.get("/v1/me", headers=who.headers).status_code == 200  # the account exists from here
    return who


def _by_parts(conn: Connection, who: Person, purpose: Purpose, device: str | None, gpc: bool) -> bool:
    if is_held(conn, who.id) or gpc:
        return False
    event = consent.current(conn, user_id=who.id, device_id=device)
    return bool(event is not None and event.categories.get(purpose, False))


def test_the_one_statement_guard_agrees_with_its_parts(client: TestClient, db: Database) -> None:
    fallback, own_off, held, other_users, nothing = (_signed_in(client) for _ in range(5))
    anonymous_on, shared_device = _device(), _device()
    _consent(client, anonymous_on, True)  # an anonymous device choice, not linked to anyone
    _consent(client, _device(), False, own_off)  # own_off's own choice: off
    _consent(client, _device(), True, held)
    restricted = client.put("/v1/me/restriction", headers=held.headers, json={"restricted": True})
    assert restricted.status_code == 200, restricted.text
    _consent(client, shared_device, True, other_users)  # another account's event on this device

    cases = [
        (fallback, anonymous_on, True),  # no event of its own: the device's anonymous choice
        (fallback, None, False),
        (fallback, "not a device id!", False),
        (own_off, anonymous_on, False),  # its own event wins over the device's
        (held, None, False),  # restricted: nothing optional
        (nothing, shared_device, False),  # another account's event on the device is not this one's
        (other_users, shared_device, True),
        (other_users, None, True),
        (nothing, None, False),
    ]
    for who, device, expected in cases:
        for purpose in ("analytics", "marketing"):
            for gpc in (False, True):
                with db.transaction() as conn:
                    want = _by_parts(conn, who, purpose, device, gpc)
                    got = can_process(conn, who.id, purpose, device_id=device, gpc=gpc)
                    assert got == want, (who.id, device, purpose, gpc)
                    if purpose == "analytics":
                        recorded = record_analytics_if_allowed(conn, who.id, device_id=device, gpc=gpc, feature="t")
                        count = conn.execute(
                            "select count(*) as n from analytics_events where user_id = %s", (who.id,)
                        ).fetchone()
                        assert recorded == want and count == {"n": int(want)}, (who.id, device, gpc)  # noqa: PT018
                    conn.rollback()
        assert _expected(who, device, db) == expected, (who.id, device)  # and not by agreeing on a wrong answer


def _expected(who: Person, device: str | None, db: Database) -> bool:
    with db.transaction() as conn:
        return can_process(conn, who.id, "analytics", device_id=device)
