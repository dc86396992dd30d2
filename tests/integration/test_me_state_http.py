"""GET /v1/me tells the app what to ask first: onboarding (done or not) and the policies to accept."""

from __future__ import annotations

from fastapi.testclient import TestClient

from config.policies import shipped_text
from shared.kit.db import Database
from shared.notify.policy_update import publish
from tests.support.people import onboard, person


def test_a_new_account_must_onboard_and_accept_both_policies(client: TestClient) -> None:
    ada = person()
    body = client.get("/v1/me", headers=ada.headers).json()
    assert body["onboarding"] == {"done": False, "completed_at": None}
    assert [(p["kind"], p["version"], p["url"]) for p in body["policies_to_accept"]] == [
        ("privacy", 1, "/v1/policies/privacy/1"),
        ("terms", 1, "/v1/policies/terms/1"),
    ]


def test_after_onboarding_nothing_is_pending_until_a_material_change(client: TestClient, db: Database) -> None:
    ada = person()
    onboard(client, ada)
    body = client.get("/v1/me", headers=ada.headers).json()
    assert body["onboarding"]["done"] is True
    assert body["onboarding"]["completed_at"] is not None
    assert body["policies_to_accept"] == []

    publish(db, "Typo fixed.\n", kind="terms", material=False)
    assert client.get("/v1/me", headers=ada.headers).json()["policies_to_accept"] == []

    publish(db, shipped_text("privacy") + "\nA new processor.\n", kind="privacy", material=True)
    pending = client.get("/v1/me", headers=ada.headers).json()["policies_to_accept"]
    assert [(p["kind"], p["version"], p["material"]) for p in pending] == [("privacy", 2, True)]

    accepted = client.post("/v1/me/policy-acceptances", json={"version": 2}, headers=ada.headers)
    assert accepted.status_code == 201, accepted.text
    assert client.get("/v1/me", headers=ada.headers).json()["policies_to_accept"] == []
