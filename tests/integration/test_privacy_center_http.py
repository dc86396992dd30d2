"""The privacy center's read routes: what we hold (drawn from the data map itself), the rights requests on
record, and the policy versions accepted. Each answers for the caller only."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from config.policies import shipped_text
from config.retention import rule
from shared.kit.db import Database
from shared.notify.policy_update import publish
from shared.privacy.datamap import STORAGE, TABLES
from tests.support.people import onboard, person


def _items(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: {**item, "category": c["category"]} for c in body["categories"] for item in c["items"]}


def test_what_we_hold_is_the_data_map_with_the_callers_own_counts(client: TestClient) -> None:
    ada, bob = person(), person()
    onboard(client, ada)
    onboard(client, bob)
    assert client.patch("/v1/me", json={"display_name": "Ada"}, headers=ada.headers).status_code == 200

    response = client.get("/v1/me/data", headers=ada.headers)
    assert response.status_code == 200, response.text
    assert response.json()["deletion_grace_days"] == 7
    items = _items(response.json())
    # Every table and storage prefix of the map, once, with the map's own words.
    assert set(items) == {t.table for t in TABLES} | {
        "files/" + s.prefix.removeprefix("users/{user_id}/").rstrip("/") for s in STORAGE
    }
    for entry in TABLES:
        got = items[entry.table]
        assert (got["category"], got["purpose"], got["legal_basis"], got["on_deletion"]) == (
            entry.category,
            entry.purpose,
            entry.legal_basis,
            entry.erasure,
        )
        expected = rule(entry.retention)
        assert got["retention"]["rule"] == entry.retention
        assert got["retention"]["keep_days"] == expected.keep.days
        assert got["retention"]["description"] == expected.what
        assert (got["count"] is None) == (entry.subject_column is None)
    # Counts are the caller's rows only: one account, two accepted policies, one rectification on record.
    assert items["accounts"]["count"] == 1
    assert items["policy_acceptances"]["count"] == 2
    assert items["privacy_requests"]["count"] == 1
    assert _items(client.get("/v1/me/data", headers=bob.headers).json())["privacy_requests"]["count"] == 0
    # What erasure keeps is said, with the reason: accounting records stay (pseudonymised) under the law.
    assert items["billing_orders"]["on_deletion"] == "keep pseudonymised"
    assert "accounting" in items["billing_orders"]["retention"]["description"]
    # The same map in a person's words: groups with what, why and how long, counts summed, what erasure keeps.
    groups = {g["id"]: g for g in response.json()["groups"]}
    assert [g["label"] for g in response.json()["groups"]][:2] == ["your account details", "your images and uploads"]
    assert groups["account"]["count"] == 1
    assert groups["choices"]["count"] >= 2  # the two accepted policies (and any consent events)
    assert groups["images"]["deleted_with_account"] is True
    assert groups["images"]["kept_after_deletion"] is None
    assert groups["purchases"]["deleted_with_account"] is False
    assert "invoices for 10 years, because accounting law requires it" in groups["purchases"]["kept_after_deletion"]
    assert all(g["what"] and g["why"] and g["kept_for"] for g in groups.values())


def test_my_requests_lists_the_callers_requests_with_due_dates_and_outcomes(client: TestClient) -> None:
    ada, bob = person(), person()
    onboard(client, ada)
    onboard(client, bob)
    assert client.get("/v1/me/requests", headers=ada.headers).json() == {"items": []}
    client.patch("/v1/me", json={"full_name": "Ada Lovelace"}, headers=ada.headers)
    assert client.put("/v1/me/restriction", json={"restricted": True}, headers=ada.headers).status_code == 200
    client.patch("/v1/me", json={"display_name": "Bob"}, headers=bob.headers)

    items = client.get("/v1/me/requests", headers=ada.headers).json()["items"]
    assert sorted(i["kind"] for i in items) == ["rectification", "restriction"]
    for item in items:
        assert item["status"] == "completed"
        assert item["completed_at"] is not None
        assert item["due_at"] > item["received_at"]
        assert item["overdue"] is False
    assert [i["kind"] for i in client.get("/v1/me/requests", headers=bob.headers).json()["items"]] == ["rectification"]


def test_policy_versions_accepted_are_listed_with_their_dates(client: TestClient, db: Database) -> None:
    ada = person()
    assert client.get("/v1/me/policy-acceptances", headers=ada.headers).json() == {"items": []}
    onboard(client, ada)
    publish(db, shipped_text("privacy") + "\nA new processor.\n", kind="privacy", material=True)
    assert client.post("/v1/me/policy-acceptances", json={"version": 2}, headers=ada.headers).status_code == 201

    items = client.get("/v1/me/policy-acceptances", headers=ada.headers).json()["items"]
    newest = items[0]
    assert (newest["kind"], newest["version"], newest["url"]) == ("privacy", 2, "/v1/policies/privacy/2")
    assert sorted((i["kind"], i["version"]) for i in items) == [("privacy", 1), ("privacy", 2), ("terms", 1)]
    assert all(i["accepted_at"] for i in items)


def test_a_locked_account_still_reads_what_we_hold(client: TestClient) -> None:
    ada = person()
    onboard(client, ada)
    assert client.delete("/v1/me", headers=ada.headers).status_code == 202
    assert client.get("/v1/me/data", headers=ada.headers).status_code == 200
    requests = client.get("/v1/me/requests", headers=ada.headers)  # and the erasure request it just made
    assert requests.status_code == 200, requests.text
    assert [r["kind"] for r in requests.json()["items"]] == ["erasure"]
    assert client.get("/v1/me/policy-acceptances", headers=ada.headers).status_code == 200
    assert client.get("/v1/media", headers=ada.headers).status_code == 403  # the rest stays locked
