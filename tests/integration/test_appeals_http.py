"""Contesting a moderation decision: the notice states the reasons and links the decision; "Appeal" opens a support
ticket of topic `appeal` linked to it; `deploy.py moderation appeals` lists it and `appeal-decide` restores or
confirms, answering the person in Notices and by email, audited by ids only."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from shared.kit.db import Database
from shared.notify.outbox import deliver
from shared.trust import suspension
from tests.integration.test_moderation_http import Capture, _deploy, _published
from tests.support.people import Person, onboard, person


def _notice(client: TestClient, who: Person, kind: str) -> dict[str, Any]:
    notices = client.get("/v1/me/notifications", headers=who.headers).json()["items"]
    [notice] = [n for n in notices if n["kind"] == kind]
    return dict(notice)


def _appeal(client: TestClient, who: Person, decision_id: str, message: str = "Please look again.") -> Any:
    form = {"subject": "Appeal against a moderation decision", "message": message, "decision_id": decision_id}
    return client.post("/v1/support/tickets", data=form, headers=who.headers)


def test_a_takedown_is_appealed_restored_and_the_person_told(
    client: TestClient, db: Database, database_url: str, tmp_path: Path
) -> None:
    owner, other = person(), person()
    media_id = _published(client, owner)
    reason = "Looks like a copyrighted character (terms 5)."
    assert _deploy(database_url, tmp_path, "moderation", "takedown", media_id, "--reason", reason).returncode == 0

    notice = _notice(client, owner, "content_takedown")
    decision_id = notice["decision_id"]
    assert decision_id
    assert notice["appeal_ticket_id"] is None
    for part in ("What: An image was removed from the public gallery", "Decided by: a person at Atelier", "When: ",
                 reason, "Appeal"):  # fmt: skip
        assert part in notice["body"], part

    onboard(client, other)
    assert _appeal(client, other, decision_id).status_code == 404  # someone else's decision
    assert _appeal(client, owner, str(uuid.uuid4())).status_code == 404
    opened = _appeal(client, owner, decision_id, "It is my own drawing.")
    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    assert (ticket["topic"], ticket["decision_id"], ticket["appeal_outcome"]) == ("appeal", decision_id, None)
    again = _appeal(client, owner, decision_id)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_appealed")
    assert _notice(client, owner, "content_takedown")["appeal_ticket_id"] == ticket["id"]

    listed = _deploy(database_url, tmp_path, "moderation", "appeals")
    assert listed.returncode == 0, listed.stderr
    assert ticket["id"] in listed.stdout
    assert "takedown" in listed.stdout
    assert "undecided" in listed.stdout
    assert "my own drawing" not in listed.stdout
    assert owner.email not in listed.stdout

    sender = Capture()
    deliver(db, sender)  # the takedown mail
    note = "You are right: it is an original work."
    done = _deploy(database_url, tmp_path, "moderation", "appeal-decide", ticket["id"], "--restore", "--note", note)
    assert done.returncode == 0, done.stderr
    assert f"restored: appeal {ticket['id']}" in done.stdout

    assert client.patch(f"/v1/media/{media_id}", json={"public": True}, headers=owner.headers).status_code == 200
    outcome = _notice(client, owner, "appeal_decided")
    assert outcome["title"] == "Your appeal was upheld"
    assert note in outcome["body"]
    assert "published in the gallery again" in outcome["body"]
    assert not [n for n in client.get("/v1/me/notifications", headers=owner.headers).json()["items"]
                if n["kind"] == "content_restored"]  # fmt: skip  # one answer, not two
    sender.sent.clear()
    assert deliver(db, sender).sent == 1
    [mail] = sender.sent
    assert (mail.to, mail.subject) == (owner.email, outcome["title"])
    assert note in mail.body

    closed = client.get(f"/v1/support/tickets/{ticket['id']}", headers=owner.headers).json()
    assert (closed["status"], closed["appeal_outcome"]) == ("closed", "restored")
    assert closed["messages"][-1]["author"] == "staff"
    assert note in closed["messages"][-1]["body"]
    with db.transaction() as conn:
        audits = conn.execute("select action, details::text as details from audit_log order by at").fetchall()
        overturned = conn.execute(
            "select overturned_at from moderation_decisions where id = %s", (decision_id,)
        ).fetchone()
    assert [a["action"] for a in audits] == ["media.takedown", "media.restore", "appeal.restored"]
    assert ticket["id"] in audits[2]["details"]
    assert note not in audits[2]["details"]
    assert overturned is not None
    assert overturned["overturned_at"] is not None

    twice = _deploy(database_url, tmp_path, "moderation", "appeal-decide", ticket["id"], "--confirm", "--note", "x")
    assert twice.returncode == 2
    assert "appeal_already_decided" in twice.stderr
    malformed = _deploy(database_url, tmp_path, "moderation", "appeal-decide", "not-an-id", "--confirm", "--note", "x")
    assert malformed.returncode == 2
    assert "TICKET_ID must be an appeal's ticket id (a UUID)" in malformed.stderr
    assert "0 appeal(s) waiting" in _deploy(database_url, tmp_path, "moderation", "appeals").stdout


def test_a_suspension_appeal_confirmed_keeps_the_suspension_and_says_so(client: TestClient, db: Database) -> None:
    who = person()
    onboard(client, who)
    with db.transaction() as conn:
        suspension.suspend(conn, email=who.email, reason="Repeated spam in the gallery.")
    notice = _notice(client, who, "account_suspended")
    assert "Decided by: a person at Atelier" in notice["body"]
    opened = _appeal(client, who, notice["decision_id"])  # a suspended account can still appeal
    assert opened.status_code == 201, opened.text

    from datetime import UTC, datetime

    from shared.support import appeals

    with db.transaction() as conn:
        decided = appeals.decide(
            conn, uuid.UUID(opened.json()["id"]), outcome="confirmed", note="The spam is documented.",
            now=datetime.now(UTC),
        )  # fmt: skip
        still = suspension.is_suspended(conn, who.id)
    assert (decided.outcome, decided.stage, still) == ("confirmed", "suspension", True)
    outcome = _notice(client, who, "appeal_decided")
    assert outcome["title"] == "Your appeal was reviewed: the decision stands"
    assert "The spam is documented." in outcome["body"]
