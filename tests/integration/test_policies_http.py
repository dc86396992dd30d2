"""Policy versions over HTTP: shipped v1, publishing, acceptance, the 428 gate, notices and the email outbox."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import deploy
from config.policies import shipped_text
from config.settings import get_settings
from shared.kit.db import Database
from shared.notify.email import LogEmailSender, OutgoingEmail
from shared.notify.outbox import deliver
from shared.notify.policy_update import publish
from shared.policies.service import GATE_EXEMPT, is_gate_exempt
from tests.support.people import Person, onboard, person

GATED = ("/v1/analytics/events", {"feature": "text_to_image"})


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_fresh_deployment_answers_current_policies_from_the_first_request(client: TestClient) -> None:
    response = client.get("/v1/policies/current")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 1
    assert body["sha256"] == _sha(shipped_text("privacy"))
    assert body["terms"]["version"] == 1
    assert body["terms"]["sha256"] == _sha(shipped_text("terms"))
    text = client.get(body["url"])
    assert text.status_code == 200
    assert text.text == shipped_text("privacy")
    assert text.headers["x-content-sha256"] == body["sha256"]
    missing = client.get("/v1/policies/privacy/9")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "unknown_policy_version")


def test_concurrent_first_requests_seed_one_version_each(client: TestClient, db: Database) -> None:
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def hit() -> None:
        barrier.wait()
        statuses.append(client.get("/v1/policies/current").status_code)

    threads = [threading.Thread(target=hit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 6
    with db.transaction() as conn:
        rows = conn.execute("select kind, count(*) as n from policy_versions group by kind order by kind").fetchall()
    assert rows == [{"kind": "privacy", "n": 1}, {"kind": "terms", "n": 1}]


def _acceptances(db: Database, who: Person) -> list[dict[str, object]]:
    with db.transaction() as conn:
        return conn.execute(
            """select a.id, a.kind, a.version, a.accepted_at, a.policy_version_id, p.version as points_at
               from policy_acceptances a join policy_versions p on p.id = a.policy_version_id
               where a.user_id = %s order by a.kind, a.version""",
            (who.id,),
        ).fetchall()


def test_material_change_gates_until_accepted(client: TestClient, db: Database) -> None:
    ada, bob = person(), person()
    onboard(client, ada)
    onboard(client, bob)
    assert client.post(GATED[0], json=GATED[1], headers=ada.headers).status_code == 202
    before = [row for row in _acceptances(db, ada) if row["kind"] == "privacy"]
    assert [row["version"] for row in before] == [1]

    result = publish(db, shipped_text("privacy") + "\nNew processor added.\n", kind="privacy", material=True)
    assert (result.policy.version, result.created, result.notices_created, result.emails_queued) == (2, True, 2, 2)

    gated = client.post(GATED[0], json=GATED[1], headers=ada.headers)
    assert gated.status_code == 428
    assert gated.json()["error"]["code"] == "policy_acceptance_required"
    # Reading policies, the account, notices and consent still work while gated.
    assert client.get("/v1/me", headers=ada.headers).status_code == 200
    assert client.get("/v1/policies/current", headers=ada.headers).json()["version"] == 2
    assert client.get("/v1/me/notifications", headers=ada.headers).status_code == 200
    assert client.get("/v1/consents/current?device_id=device-0001", headers=ada.headers).status_code == 200
    question = {"subject": "About the new processor", "message": "Which processor did you add?"}
    asked = client.post("/v1/support/tickets", data=question, headers=ada.headers)  # and asking us about it
    assert asked.status_code == 201, asked.text
    assert client.get("/v1/support/tickets", headers=ada.headers).status_code == 200

    assert client.post("/v1/me/policy-acceptances", json={"version": 7}, headers=ada.headers).json()["error"][
        "code"
    ] == ("unknown_policy_version")
    outdated = client.post("/v1/me/policy-acceptances", json={"version": 1}, headers=ada.headers)
    assert outdated.status_code == 409
    accepted = client.post("/v1/me/policy-acceptances", json={"version": 2}, headers=ada.headers)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["version"] == 2
    assert client.post(GATED[0], json=GATED[1], headers=ada.headers).status_code == 202
    # Bob has not accepted yet: still gated.
    assert client.post(GATED[0], json=GATED[1], headers=bob.headers).status_code == 428

    after = [row for row in _acceptances(db, ada) if row["kind"] == "privacy"]
    assert after[0] == before[0], "the v1 acceptance row changed"
    assert after[1]["points_at"] == 2
    assert after[1]["policy_version_id"] == result.policy.id

    with db.transaction() as conn:
        notices = conn.execute(
            "select user_id, count(*) as n from notifications group by user_id order by user_id"
        ).fetchall()
        emails = conn.execute("select count(*) as n from email_outbox").fetchone()
    assert sorted(row["user_id"] for row in notices) == sorted([ada.id, bob.id])
    assert all(row["n"] == 1 for row in notices)
    assert emails == {"n": 2}


def test_acceptance_rows_cannot_be_changed(client: TestClient, db: Database) -> None:
    ada = person()
    onboard(client, ada)
    with pytest.raises(Exception, match="append-only"), db.transaction() as conn:
        conn.execute("update policy_acceptances set version = 9 where user_id = %s", (ada.id,))
    with pytest.raises(Exception, match="append-only"), db.transaction() as conn:
        conn.execute("update policy_versions set text = 'changed'")


def test_users_who_onboard_after_a_material_version_are_not_gated_twice(client: TestClient, db: Database) -> None:
    publish(db, "Privacy v2, material.\n", kind="privacy", material=True)
    publish(db, "Terms v2, material.\n", kind="terms", material=True)
    newcomer = person()
    done = onboard(client, newcomer)
    assert (done["policy_version"], done["terms_version"]) == (2, 2)
    assert client.post(GATED[0], json=GATED[1], headers=newcomer.headers).status_code == 202


def test_material_terms_change_is_accepted_with_kind_terms(client: TestClient, db: Database) -> None:
    ada = person()
    onboard(client, ada)
    publish(db, "Terms v2.\n", kind="terms", material=True)
    assert client.post(GATED[0], json=GATED[1], headers=ada.headers).status_code == 428
    ok = client.post("/v1/me/policy-acceptances", json={"version": 2, "kind": "terms"}, headers=ada.headers)
    assert ok.status_code == 201
    assert client.post(GATED[0], json=GATED[1], headers=ada.headers).status_code == 202


def test_non_material_change_notifies_without_gating(client: TestClient, db: Database) -> None:
    ada = person()
    onboard(client, ada)
    result = publish(db, "Typo fixed.\n", kind="privacy", material=False)
    assert result.notices_created == 1
    assert client.post(GATED[0], json=GATED[1], headers=ada.headers).status_code == 202


def test_publishing_twice_at_once_creates_one_version_and_one_notice_per_user(client: TestClient, db: Database) -> None:
    people = [person() for _ in range(7)]
    for who in people:
        assert client.get("/v1/me", headers=who.headers).status_code == 200
    barrier = threading.Barrier(3)
    versions: list[int] = []

    def run() -> None:
        barrier.wait()
        versions.append(publish(db, "Same new text.\n", kind="privacy", material=True, batch_size=2).policy.version)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert versions == [2, 2, 2]
    again = publish(db, "Same new text.\n", kind="privacy", material=True, batch_size=3)
    assert (again.created, again.notices_created, again.emails_queued) == (False, 0, 0)
    with db.transaction() as conn:
        per_user = conn.execute("select user_id, count(*) as n from notifications group by user_id").fetchall()
        mails = conn.execute("select user_id, count(*) as n from email_outbox group by user_id").fetchall()
        count = conn.execute("select count(*) as n from policy_versions where kind = 'privacy'").fetchone()
    assert count == {"n": 2}
    assert sorted(r["user_id"] for r in per_user) == sorted(p.id for p in people)
    assert {r["n"] for r in per_user} == {1}
    assert len(mails) == 7
    assert {r["n"] for r in mails} == {1}


def test_deploy_verb_publishes(
    client: TestClient, db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = person()
    onboard(client, ada)
    policy_file = tmp_path / "privacy-v2.md"
    policy_file.write_text("Privacy v2 from the command line.\n")
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        assert deploy.main(["policy", "publish", str(policy_file), "--kind", "privacy", "--material"]) == 0
    finally:
        get_settings.cache_clear()
    current = client.get("/v1/policies/current").json()
    assert (current["version"], current["material"]) == (2, True)
    assert current["sha256"] == _sha("Privacy v2 from the command line.\n")
    assert client.post(GATED[0], json=GATED[1], headers=ada.headers).status_code == 428


def test_notifications_list_paginates_and_marks_seen(client: TestClient, db: Database) -> None:
    ada, bob = person(), person()
    onboard(client, ada)
    onboard(client, bob)
    for n in range(3):
        publish(db, f"Notice {n}\n", kind="terms", material=False)
    first = client.get("/v1/me/notifications?limit=2", headers=ada.headers).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    second = client.get(f"/v1/me/notifications?limit=2&cursor={first['next_cursor']}", headers=ada.headers).json()
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert len(set(ids)) == 3
    assert all(item["seen_at"] is None for item in first["items"])
    seen = client.post(f"/v1/me/notifications/{ids[0]}/seen", headers=ada.headers)
    assert seen.status_code == 200
    assert seen.json()["seen_at"] is not None
    again = client.post(f"/v1/me/notifications/{ids[0]}/seen", headers=ada.headers).json()
    assert again["seen_at"] == seen.json()["seen_at"]
    assert client.post(f"/v1/me/notifications/{ids[0]}/seen", headers=bob.headers).status_code == 404
    assert client.post(f"/v1/me/notifications/{uuid.uuid4()}/seen", headers=ada.headers).status_code == 404
    assert client.get("/v1/me/notifications?cursor=garbage", headers=ada.headers).status_code == 400


def test_outbox_delivery_sends_each_email_once_and_logs_no_address(
    client: TestClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    people = [person() for _ in range(5)]
    for who in people:
        onboard(client, who)
    publish(db, "Privacy v2.\n", kind="privacy", material=True)
    sender = LogEmailSender()
    barrier = threading.Barrier(3)
    totals: list[int] = []

    def run() -> None:
        barrier.wait()
        totals.append(deliver(db, sender, limit=2).sent)

    with caplog.at_level(logging.INFO, logger="atelier.email"):
        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        while deliver(db, sender, limit=2).sent:
            pass
    assert len(sender.sent) == 5
    assert len(set(sender.sent)) == 5
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from email_outbox where sent_at is null").fetchone() == {"n": 0}
    logged = caplog.text
    assert str(sender.sent[0]) in logged
    for who in people:
        assert who.email not in logged


def test_a_failing_sender_leaves_the_email_pending(client: TestClient, db: Database) -> None:
    ada = person()
    onboard(client, ada)
    publish(db, "Privacy v2.\n", kind="privacy", material=True)

    class Broken:
        def send(self, email: OutgoingEmail) -> None:
            raise ConnectionError("smtp down")

    assert deliver(db, Broken()).sent == 0
    with db.transaction() as conn:
        row = conn.execute(
            "select sent_at, attempts, last_error, claimed_at, next_attempt_at - now() as wait from email_outbox"
        ).fetchone()
    assert row is not None
    wait = row.pop("wait")
    assert row == {"sent_at": None, "attempts": 1, "last_error": "ConnectionError", "claimed_at": None}
    assert timedelta(seconds=30) < wait <= timedelta(minutes=1)  # retried after a delay, not at once
    assert deliver(db, LogEmailSender()).sent == 0
    assert deliver(db, LogEmailSender(), now=datetime.now(UTC) + timedelta(minutes=2)).sent == 1


def test_gate_exemptions_are_path_segment_aware() -> None:
    assert GATE_EXEMPT
    assert is_gate_exempt("GET", "/v1/me")
    assert not is_gate_exempt("POST", "/v1/me")
    assert is_gate_exempt("DELETE", "/v1/me")
    assert is_gate_exempt("POST", "/v1/me/exports")
    assert is_gate_exempt("GET", "/v1/me/exports/abc")
    assert is_gate_exempt("POST", "/v1/me/deletion/cancel")
    assert is_gate_exempt("PUT", "/v1/me/restriction")
    assert is_gate_exempt("PUT", "/v1/me/preferences")
    assert is_gate_exempt("POST", "/v1/support/tickets")
    assert not is_gate_exempt("POST", "/v1/supportx")
    assert not is_gate_exempt("GET", "/v1/me/exportsx")
    assert not is_gate_exempt("POST", "/v1/jobs")
    assert not is_gate_exempt("GET", "/v1/me/uploads")
