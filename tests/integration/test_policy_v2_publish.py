"""The complete privacy policy reaches an existing deployment as a material change: `deploy.py policy publish`
without a file publishes the shipped text, rendered, with its summary of what changed; the 428 gate, one notice
and one mail per account follow, and the summary is what `GET /v1/policies/current`, `GET /v1/me` and the mail
say. A fresh deployment simply starts with that text as version 1."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import deploy
from config.policies import SHIPPED_SUMMARY, shipped_text
from config.settings import get_settings
from shared.kit.db import Database
from shared.notify.outbox import deliver
from shared.policies import repo
from shared.policies.service import text_sha256
from tests.integration.test_moderation_http import Capture
from tests.support.people import onboard, person

OLD_V1 = "# Atelier privacy policy\n\nVersion 1.\n\nThe thin text an existing deployment started with.\n"


def test_an_existing_deployment_gets_the_new_text_as_a_material_v2_with_its_summary(
    client: TestClient, db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.transaction() as conn:  # what an existing deployment holds: the old text as v1
        conn.execute("delete from policy_versions where kind = 'privacy'")
        repo.insert(
            conn, kind="privacy", version=1, effective_at=datetime(2026, 1, 1, tzinfo=UTC),
            sha256=text_sha256(OLD_V1), material=False, text=OLD_V1,
        )  # fmt: skip
    ada, bob = person(), person()
    onboard(client, ada)
    onboard(client, bob)
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        assert deploy.main(["policy", "publish", "--kind", "privacy", "--material"]) == 0
        expected = shipped_text("privacy")
    finally:
        get_settings.cache_clear()

    current = client.get("/v1/policies/current").json()
    assert (current["version"], current["material"], current["summary"]) == (2, True, SHIPPED_SUMMARY["privacy"])
    text = client.get(current["url"]).text
    assert text == expected
    assert "## Automated decisions" in text
    assert "{" not in text  # every placeholder filled
    pending = client.get("/v1/me", headers=ada.headers).json()["policies_to_accept"]
    assert [(p["version"], p["summary"]) for p in pending] == [(2, SHIPPED_SUMMARY["privacy"])]
    assert (
        client.post("/v1/analytics/events", json={"feature": "text_to_image"}, headers=ada.headers).status_code == 428
    )
    notices = client.get("/v1/me/notifications", headers=bob.headers).json()["items"]
    assert [n["kind"] for n in notices] == ["policy_update"]
    assert SHIPPED_SUMMARY["privacy"] in notices[0]["body"]
    sender = Capture()
    assert deliver(db, sender).sent == 2
    assert all(SHIPPED_SUMMARY["privacy"] in " ".join(m.body.split()) for m in sender.sent)
    accepted = client.post("/v1/me/policy-acceptances", json={"version": 2}, headers=ada.headers)
    assert accepted.status_code == 201


def test_a_fresh_deployment_ships_the_new_text_as_version_1(client: TestClient, tmp_path: Path) -> None:
    current = client.get("/v1/policies/current").json()
    assert (current["version"], current["summary"]) == (1, None)
    assert current["sha256"] == text_sha256(shipped_text("privacy"))
    assert "## Who we are" in client.get(current["url"]).text
