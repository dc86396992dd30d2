"""Reports, the moderation queue, takedown/restore and suspension: over HTTP and through `deploy.py moderation`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database
from shared.media import service as media
from shared.notify.email import OutgoingEmail
from shared.notify.outbox import deliver
from shared.trust import queue, suspension, takedown
from tests.support.people import Person, onboard, person
from tests.support.tokens import HS256_SECRET

ROOT = Path(__file__).resolve().parents[2]


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _published(client: TestClient, who: Person) -> str:
    """An output of `who`, stored as the worker stores one, then published over HTTP."""
    onboard(client, who)
    app: Any = client.app
    with app.state.db.transaction() as conn:
        item = media.store_output(
            conn, app.state.storage, user_id=who.id, job_id=None, data=_png(), content_type="image/png",
            width=16, height=12, task="text_to_image", model="flux-schnell", prompt="a lighthouse",
        )  # fmt: skip
    response = client.patch(f"/v1/media/{item.id}", json={"public": True}, headers=who.headers)
    assert response.status_code == 200, response.text
    return str(item.id)


def _report(client: TestClient, media_id: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return client.post(f"/v1/gallery/{media_id}/report", json={"reason": "sexual", **body}, headers=headers or {})


def _deploy(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "ATELIER_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "deploy.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


class Capture:
    """An email sender (the outbox's own protocol) that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    def send(self, email: OutgoingEmail) -> None:
        self.sent.append(email)


def test_duplicates_from_one_reporter_count_once_and_anyone_may_report(client: TestClient, db: Database) -> None:
    owner, ada, bob = person(), person(), person()
    media_id = _published(client, owner)
    assert _report(client, media_id, ada.headers, details="not for kids").status_code == 202
    assert _report(client, media_id, ada.headers, reason="spam").status_code == 202  # the same reporter: once
    assert _report(client, media_id, bob.headers).status_code == 202
    assert _report(client, media_id).status_code == 202  # anonymous, by address
    again = _report(client, media_id)
    assert again.status_code == 202
    assert again.json() == {"status": "received"}
    with db.transaction() as conn:
        [item] = queue.queue(conn)
        stored = conn.execute("select reporter_ref, details from gallery_reports").fetchall()
    assert (str(item.media_id), item.reports) == (media_id, 3)
    assert item.reasons == ("sexual",)
    for row in stored:  # a keyed hash, never the reporter's id or address
        assert str(ada.id) not in row["reporter_ref"]
        assert len(row["reporter_ref"]) == 64


def test_reports_of_anything_not_in_the_gallery_are_404_and_bad_reasons_422(client: TestClient) -> None:
    owner = person()
    media_id = _published(client, owner)
    assert client.patch(f"/v1/media/{media_id}", json={"public": False}, headers=owner.headers).status_code == 200
    assert _report(client, media_id).status_code == 404
    assert _report(client, str(uuid.uuid4())).status_code == 404
    bad = client.post(f"/v1/gallery/{media_id}/report", json={"reason": "ugly"})
    assert bad.status_code == 422
    long = _report(client, _published(client, person()), details="x" * 2001)
    assert long.status_code == 422


def test_reports_are_rate_limited_per_address(tmp_path: Path, db: Database) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, rate_limit_overrides={"reports.ip": "2/3600"}
    )
    with TestClient(create_app(settings, db)) as limited:
        media_id = _published(limited, person())
        assert [_report(limited, media_id, person().headers).status_code for _ in range(3)] == [202, 202, 429]


def test_report_queue_takedown_notice_email_and_restore(
    client: TestClient, db: Database, database_url: str, tmp_path: Path
) -> None:
    owner = person()
    media_id = _published(client, owner)
    quiet = _published(client, person())  # unreported: not in the queue
    assert _report(client, media_id, person().headers, reason="minor_safety").status_code == 202

    listed = _deploy(database_url, tmp_path / "data", "moderation", "queue", "--links")  # the API's data dir
    assert listed.returncode == 0, listed.stderr
    assert media_id in listed.stdout
    assert quiet not in listed.stdout
    assert "reports=1 (minor_safety)" in listed.stdout
    [link] = [line.split("review: ")[1] for line in listed.stdout.splitlines() if "review: " in line]
    assert client.get(link).status_code == 200  # the operator can look at what was reported

    reason = "Depicts a minor in a sexualised way (terms 4.2)."
    done = _deploy(database_url, tmp_path, "moderation", "takedown", media_id, "--reason", reason)
    assert done.returncode == 0, done.stderr
    assert client.get(f"/v1/gallery/{media_id}/image").status_code == 404
    assert media_id not in {item["id"] for item in client.get("/v1/gallery").json()["items"]}
    assert _report(client, media_id).status_code == 404
    assert media_id not in _deploy(database_url, tmp_path, "moderation", "queue").stdout  # handled

    mine = client.get(f"/v1/media/{media_id}", headers=owner.headers).json()
    assert (mine["public"], mine["taken_down"]) == (False, True)
    refused = client.patch(f"/v1/media/{media_id}", json={"public": True}, headers=owner.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "taken_down"

    notices = client.get("/v1/me/notifications", headers=owner.headers).json()["items"]
    [notice] = [n for n in notices if n["kind"] == "content_takedown"]
    assert reason in notice["body"]
    assert "Support" in notice["body"]  # how to contest
    sender = Capture()
    assert deliver(db, sender).sent == 1
    [email] = sender.sent
    assert (email.to, email.subject) == (owner.email, notice["title"])
    assert reason in email.body

    with db.transaction() as conn:
        audits = conn.execute("select action, details::text as details from audit_log order by at").fetchall()
    assert [a["action"] for a in audits] == ["media.takedown"]
    assert reason not in audits[0]["details"]
    assert owner.email not in audits[0]["details"]

    restored = _deploy(database_url, tmp_path, "moderation", "restore", media_id)
    assert restored.returncode == 0, restored.stderr
    assert f"restored: {media_id}" in restored.stdout
    assert client.patch(f"/v1/media/{media_id}", json={"public": True}, headers=owner.headers).status_code == 200
    assert client.get(f"/v1/gallery/{media_id}/image").status_code == 200

    unknown = _deploy(database_url, tmp_path, "moderation", "takedown", str(uuid.uuid4()), "--reason", "x")
    assert unknown.returncode == 2
    assert "media_not_found" in unknown.stderr
    assert unknown.stdout == ""  # nothing said done
    malformed = _deploy(database_url, tmp_path, "moderation", "restore", "not-an-id")
    assert malformed.returncode == 2
    assert "MEDIA_ID must be an image id (a UUID)" in malformed.stderr


def test_one_reporter_reporting_from_many_threads_at_once_counts_once(client: TestClient, db: Database) -> None:
    media_id = _published(client, person())
    reporter = person()
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def report() -> None:
        barrier.wait()
        statuses.append(_report(client, media_id, reporter.headers).status_code)

    threads = [threading.Thread(target=report) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [202] * 4
    with db.transaction() as conn:
        row = conn.execute("select count(*) as n from gallery_reports").fetchone()
    assert row == {"n": 1}


def test_two_takedowns_at_once_take_down_once_with_one_notice(client: TestClient, db: Database) -> None:
    owner = person()
    media_id = uuid.UUID(_published(client, owner))
    barrier = threading.Barrier(4)
    changed: list[bool] = []

    def operator() -> None:
        barrier.wait()
        with db.transaction() as conn:
            changed.append(takedown.takedown(conn, media_id, reason="spam").changed)

    threads = [threading.Thread(target=operator) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(changed) == [False, False, False, True]
    with db.transaction() as conn:
        counts = conn.execute(
            """select (select count(*) from notifications where kind = 'content_takedown') as notices,
                      (select count(*) from email_outbox where template = 'content_takedown') as emails,
                      (select count(*) from audit_log where action = 'media.takedown') as audits"""
        ).fetchone()
    assert counts == {"notices": 1, "emails": 1, "audits": 1}


CREATING = [
    ("POST", "/v1/uploads"),
    ("POST", "/v1/jobs"),
    ("PATCH", "/v1/media/{id}"),
    ("POST", "/v1/billing/checkout"),
]
RIGHTS = [
    ("GET", "/v1/me"),
    ("GET", "/v1/media"),
    ("GET", "/v1/media/{id}"),
    ("GET", "/v1/media/{id}/download"),
    ("GET", "/v1/me/notifications"),
    ("GET", "/v1/credits"),
    ("PATCH", "/v1/media/{id}"),  # withdrawing from the gallery stays possible
    ("PATCH", "/v1/me"),  # rectification
    ("GET", "/v1/me/preferences"),
    ("PUT", "/v1/me/preferences"),  # objection
    ("POST", "/v1/support/tickets"),  # how a takedown or a suspension is contested
    ("POST", "/v1/me/exports"),
    ("GET", "/v1/me/exports"),
    ("DELETE", "/v1/media/{id}"),
    ("PUT", "/v1/me/restriction"),
    ("DELETE", "/v1/me"),
    ("POST", "/v1/me/deletion/cancel"),
]


def _call(client: TestClient, method: str, path: str, who: Person, media_id: str, *, creating: bool) -> Any:
    path = path.replace("{id}", media_id)
    if path == "/v1/uploads":
        return client.post(path, headers=who.headers, files={"file": ("a.png", _png(), "image/png")})
    if path == "/v1/support/tickets":
        data = {"subject": "Contesting", "message": "Please look again."}
        return client.post(path, headers=who.headers, data=data, files={"attachments": ("a.png", _png(), "image/png")})
    bodies: dict[str, dict[str, Any]] = {
        "/v1/jobs": {"task": "text_to_image", "prompt": "a lighthouse"},
        "/v1/billing/checkout": {"product_id": "prod-starter"},
        "/v1/me": {"display_name": "Ada L."},
        "/v1/me/preferences": {"marketing_emails": False},
        "/v1/me/restriction": {"restricted": True},
    }
    body = bodies.get(path) if method in ("POST", "PATCH", "PUT") else None
    if method == "PATCH" and path.startswith("/v1/media/"):
        body = {"public": creating}
    return client.request(method, path, headers=who.headers, json=body)


def test_a_suspended_account_is_refused_every_creating_route_and_keeps_its_rights(
    client: TestClient, db: Database, database_url: str, tmp_path: Path
) -> None:
    who = person()
    media_id = _published(client, who)
    done = _deploy(database_url, tmp_path, "moderation", "suspend", who.email, "--reason", "Repeated spam")
    assert done.returncode == 0, done.stderr
    assert who.email not in done.stdout
    assert client.get(f"/v1/gallery/{media_id}/image").status_code == 404  # out of the gallery while suspended
    for method, path in CREATING:
        response = _call(client, method, path, who, media_id, creating=True)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "account_suspended", (method, path)
    notices = client.get("/v1/me/notifications", headers=who.headers).json()["items"]
    assert any(n["kind"] == "account_suspended" and "Repeated spam" in n["body"] for n in notices)
    for method, path in RIGHTS:  # erasure (and cancelling it) last: it locks the account
        response = _call(client, method, path, who, media_id, creating=False)
        assert 200 <= response.status_code < 300, (method, path, response.status_code, response.text)
    with db.transaction() as conn:
        [audit] = conn.execute("select details::text as details from audit_log where action = 'account.suspend'")
    assert who.email not in audit["details"]  # audited without personal data
    assert "Repeated spam" not in audit["details"]


def test_unsuspending_lets_the_account_create_again_and_both_are_idempotent(client: TestClient, db: Database) -> None:
    who = person()
    onboard(client, who)
    with db.transaction() as conn:
        assert suspension.suspend(conn, email=who.email.upper(), reason="abuse").changed
        assert not suspension.suspend(conn, email=who.email, reason="abuse").changed
    upload = client.post("/v1/uploads", headers=who.headers, files={"file": ("a.png", _png(), "image/png")})
    assert upload.status_code == 403
    with db.transaction() as conn:
        assert suspension.unsuspend(conn, email=who.email).changed
        assert not suspension.unsuspend(conn, email=who.email).changed
        actions = [r["action"] for r in conn.execute("select action from audit_log order by at").fetchall()]
    assert actions == ["account.suspend", "account.unsuspend"]
    upload = client.post("/v1/uploads", headers=who.headers, files={"file": ("a.png", _png(), "image/png")})
    assert upload.status_code == 201, upload.text


def test_suspend_refuses_an_unknown_address_and_an_empty_reason(database_url: str, tmp_path: Path) -> None:
    unknown = _deploy(database_url, tmp_path, "moderation", "suspend", "nobody@example.com", "--reason", "x")
    assert unknown.returncode == 2
    assert "account_not_found" in unknown.stderr
    assert "nobody@example.com" not in unknown.stderr


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_takedown_needs_a_reason(client: TestClient, db: Database, reason: str) -> None:
    media_id = uuid.UUID(_published(client, person()))
    with db.transaction() as conn, pytest.raises(Exception, match="reason"):
        takedown.takedown(conn, media_id, reason=reason)
