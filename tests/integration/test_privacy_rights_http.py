"""Privacy rights over HTTP: rectification, preferences (objection), restriction, erasure with its grace period,
and the erase-accounts run against loopback Polar and Supabase Auth admin APIs, twice at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from functions.tasks import erasure_processors
from shared import audit
from shared.kit.db import Database
from shared.media import service as media_service
from shared.media.storage import Storage, build_storage, user_prefix
from shared.privacy import erasure, exports
from shared.privacy.requests import list_requests
from tests.support import images
from tests.support.jobs import job_row
from tests.support.loopback import Loopback, Recorded, Reply, loopback_server
from tests.support.people import Person, onboard, rows_mentioning
from tests.support.tokens import HS256_SECRET, bearer, hs256

SECRET_KEY = "sb_secret_loopback_test_key_0123456789"


@dataclass
class Stack:
    client: TestClient
    db: Database
    settings: Settings
    storage: Storage
    remote: Loopback  # plays both Polar's API and Supabase's Auth admin API

    def person(self, email: str) -> Person:
        user_id = uuid.uuid4()
        self.remote.routes[("DELETE", f"/auth/v1/admin/users/{user_id}")] = lambda _: Reply(200, {})
        self.remote.routes[("DELETE", f"/v1/customers/external/{user_id}")] = lambda _: Reply(204, b"")
        token = hs256(user_id=user_id, email=email, iss=f"{self.remote.url}/auth/v1")
        return Person(user_id, email, bearer(token))

    def deletes(self, prefix: str) -> list[Recorded]:
        return [r for r in self.remote.requests if r.method == "DELETE" and r.path.startswith(prefix)]


def _stack(tmp_path: Path, db: Database, grace_days: int) -> Iterator[Stack]:
    with loopback_server() as remote:
        settings = Settings(
            data_dir=tmp_path / "data",
            supabase_url=remote.url,
            supabase_jwt_secret=HS256_SECRET,
            supabase_secret_key=SECRET_KEY,
            storage_backend="local",
            polar_access_token="polar_oat_loopback",
            polar_api_url=remote.url,
            deletion_grace_days=grace_days,
        )
        storage = build_storage(settings)
        with TestClient(create_app(settings, db, storage)) as client:
            yield Stack(client, db, settings, storage, remote)


@pytest.fixture
def stack(tmp_path: Path, db: Database) -> Iterator[Stack]:
    yield from _stack(tmp_path, db, grace_days=7)


@pytest.fixture
def no_grace(tmp_path: Path, db: Database) -> Iterator[Stack]:
    yield from _stack(tmp_path, db, grace_days=0)


def _published_output(stack: Stack, who: Person, prompt: str = "a red fox") -> str:
    """An output the person published (publishing needs onboarding, done here if not yet)."""
    version = stack.client.get("/v1/policies/current").json()["version"]
    body = {"age_confirmed": True, "accepted_policy_version": version}
    assert stack.client.post("/v1/me/onboarding", headers=who.headers, json=body).status_code in (200, 409)
    with stack.db.transaction() as conn:
        item = media_service.store_output(
            conn,
            stack.storage,
            user_id=who.id,
            job_id=job_row(conn, who.id),
            data=images.plain("PNG", (24, 16), (200, 10, 10)),
            content_type="image/png",
            width=24,
            height=16,
            task="text-to-image",
            model="flux-schnell",
            prompt=prompt,
        )
    response = stack.client.patch(f"/v1/media/{item.id}", headers=who.headers, json={"public": True})
    assert response.status_code == 200, response.text
    return str(item.id)


def _gallery_ids(client: TestClient) -> set[str]:
    return {item["id"] for item in client.get("/v1/gallery").json()["items"]}


def _analytics(stack: Stack, who: Person) -> bool:
    response = stack.client.post("/v1/analytics/events", headers=who.headers, json={"feature": "generate"})
    assert response.status_code == 202, response.text
    recorded: bool = response.json()["recorded"]
    return recorded


def _audit_details(db: Database, who: Person) -> list[tuple[str, dict[str, object]]]:
    with db.transaction() as conn:
        ref = audit.subject_ref(conn, who.id)
        rows = conn.execute("select action, details from audit_log where subject_ref = %s", (ref,)).fetchall()
    return [(row["action"], row["details"]) for row in rows]


# --- rectification -----------------------------------------------------------------------------------------


def test_rectification_changes_names_and_is_audited_by_field_name_only(stack: Stack) -> None:
    ada = stack.person("ada@example.com")
    response = stack.client.patch("/v1/me", headers=ada.headers, json={"display_name": "Countess", "full_name": None})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["display_name"], body["full_name"]) == ("Countess", None)
    assert stack.client.get("/v1/me", headers=ada.headers).json()["display_name"] == "Countess"
    assert ("account.rectified", {"fields": "display_name,full_name"}) in _audit_details(stack.db, ada)
    assert "Countess" not in str(_audit_details(stack.db, ada))
    bad = stack.client.patch("/v1/me", headers=ada.headers, json={"email": "x@example.com"})
    assert bad.status_code == 422
    assert stack.client.patch("/v1/me", headers=ada.headers, json={"avatar_url": "http://x"}).status_code == 422
    with stack.db.transaction() as conn:
        kinds = [(r.kind, r.status) for r in list_requests(conn, now=datetime.now(UTC), user_id=ada.id)]
    assert kinds == [("rectification", "completed")]


# --- preferences and objection -----------------------------------------------------------------------------


def test_preferences_default_off_and_change_at_once_as_consent_events(stack: Stack) -> None:
    ada = stack.person("ada@example.com")
    defaults = stack.client.get("/v1/me/preferences", headers=ada.headers).json()
    assert {k: v for k, v in defaults.items() if k != "updated_at"} == {
        "analytics": False,
        "marketing_emails": False,
        "gallery_display": True,
        "service_improvement": False,
        "service_improvement_default": "opt_in",
        "improvement_dataset_versions": [],
    }
    assert not _analytics(stack, ada)
    changed = stack.client.put("/v1/me/preferences", headers=ada.headers, json={"analytics": True})
    assert changed.json()["analytics"] is True
    assert _analytics(stack, ada)  # effective at once
    off = stack.client.put("/v1/me/preferences", headers=ada.headers, json={"analytics": False})
    assert off.json()["analytics"] is False
    assert not _analytics(stack, ada)
    with stack.db.transaction() as conn:
        events = conn.execute(
            "select source, device_id, categories from consent_events where user_id = %s order by created_at",
            (ada.id,),
        ).fetchall()
        requests = [(r.kind, r.status) for r in list_requests(conn, now=datetime.now(UTC), user_id=ada.id)]
    assert [(e["source"], e["device_id"], e["categories"]["analytics"]) for e in events] == [
        ("account", None, True),
        ("account", None, False),
    ]
    assert requests == [("objection", "completed")]
    assert ("preferences.changed", {"fields": "analytics"}) in _audit_details(stack.db, ada)
    assert stack.client.put("/v1/me/preferences", headers=ada.headers, json={"colour": True}).status_code == 422


def test_gallery_display_objection_withdraws_published_images(stack: Stack) -> None:
    ada = stack.person("ada@example.com")
    stack.client.get("/v1/me", headers=ada.headers)
    image = _published_output(stack, ada)
    assert image in _gallery_ids(stack.client)
    stack.client.put("/v1/me/preferences", headers=ada.headers, json={"gallery_display": False})
    assert image not in _gallery_ids(stack.client)
    stack.client.put("/v1/me/preferences", headers=ada.headers, json={"gallery_display": True})
    assert image in _gallery_ids(stack.client)


# --- restriction -------------------------------------------------------------------------------------------


def test_restricted_users_images_leave_the_gallery_and_no_analytics_is_recorded(stack: Stack) -> None:
    ada, bob = stack.person("ada@example.com"), stack.person("bob@example.com")
    for who in (ada, bob):
        stack.client.get("/v1/me", headers=who.headers)
        stack.client.put("/v1/me/preferences", headers=who.headers, json={"analytics": True})
    adas, bobs = _published_output(stack, ada), _published_output(stack, bob)
    assert _gallery_ids(stack.client) == {adas, bobs}
    assert _analytics(stack, ada)

    response = stack.client.put(
        "/v1/me/restriction", headers=ada.headers, json={"restricted": True, "reason": "accuracy contested"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["restricted"] is True
    assert _gallery_ids(stack.client) == {bobs}
    assert stack.client.get(f"/v1/gallery/{adas}/image").status_code == 404
    with stack.db.transaction() as conn:
        before = conn.execute("select count(*) as n from analytics_events where user_id = %s", (ada.id,)).fetchone()
    assert not _analytics(stack, ada)
    assert _analytics(stack, bob)  # only the restricted account is held
    with stack.db.transaction() as conn:
        after = conn.execute("select count(*) as n from analytics_events where user_id = %s", (ada.id,)).fetchone()
    assert after == before
    # data is kept: her own history still lists the image
    assert adas in {i["id"] for i in stack.client.get("/v1/media", headers=ada.headers).json()["items"]}
    assert stack.client.get("/v1/me", headers=ada.headers).json()["restricted"] is True
    assert "accuracy" not in str(_audit_details(stack.db, ada))

    lifted = stack.client.put("/v1/me/restriction", headers=ada.headers, json={"restricted": False})
    assert lifted.json() == {"restricted": False, "since": None}
    assert _gallery_ids(stack.client) == {adas, bobs}
    assert _analytics(stack, ada)


# --- erasure: lock, grace period, cancel -------------------------------------------------------------------


def test_delete_locks_at_once_withdraws_gallery_and_cancel_restores(stack: Stack) -> None:
    ada = stack.person("ada@example.com")
    stack.client.get("/v1/me", headers=ada.headers)
    image = _published_output(stack, ada)
    before = datetime.now(UTC)
    response = stack.client.delete("/v1/me", headers=ada.headers)
    assert response.status_code == 202, response.text
    scheduled = datetime.fromisoformat(response.json()["scheduled_for"])
    assert before + timedelta(days=7) <= scheduled <= datetime.now(UTC) + timedelta(days=7)

    assert image not in _gallery_ids(stack.client)
    me = stack.client.get("/v1/me", headers=ada.headers)
    assert me.status_code == 200
    assert me.json()["deletion_scheduled_for"] is not None
    for method, path in [("GET", "/v1/media"), ("GET", "/v1/me/preferences"), ("DELETE", "/v1/me")]:
        refused = stack.client.request(method, path, headers=ada.headers)
        assert refused.status_code == 403, (method, path)
        assert refused.json()["error"]["code"] == "account_locked"
    notices = stack.client.get("/v1/me/notifications", headers=ada.headers)  # the notice is readable while locked
    assert notices.status_code == 200, notices.text
    [scheduled_notice] = notices.json()["items"]
    assert scheduled_notice["kind"] == "deletion_scheduled"
    assert f"deleted on {scheduled:%Y-%m-%d}" in scheduled_notice["body"]
    seen = stack.client.post(f"/v1/me/notifications/{scheduled_notice['id']}/seen", headers=ada.headers)
    assert seen.status_code == 200, seen.text
    assert seen.json()["seen_at"] is not None

    cancelled = stack.client.post("/v1/me/deletion/cancel", headers=ada.headers)
    assert cancelled.json() == {"cancelled": True}
    notices = stack.client.get("/v1/me/notifications", headers=ada.headers).json()["items"]
    assert [n["kind"] for n in notices] == ["deletion_canceled", "deletion_scheduled"]
    assert stack.client.get("/v1/media", headers=ada.headers).status_code == 200
    assert image in _gallery_ids(stack.client)
    assert stack.client.post("/v1/me/deletion/cancel", headers=ada.headers).json() == {"cancelled": False}
    with stack.db.transaction() as conn:
        requests = [(r.kind, r.status) for r in list_requests(conn, now=datetime.now(UTC), user_id=ada.id)]
    assert requests == [("erasure", "withdrawn")]


def test_nothing_is_erased_before_the_grace_period_ends(stack: Stack) -> None:
    ada = stack.person("ada@example.com")
    stack.client.get("/v1/me", headers=ada.headers)
    stack.client.delete("/v1/me", headers=ada.headers)
    processors = erasure_processors(stack.settings)
    assert erasure.run_erasures(stack.db, processors, now=datetime.now(UTC) + timedelta(days=6)) == 0
    assert stack.client.get("/v1/me", headers=ada.headers).status_code == 200
    assert stack.deletes("/") == []


def test_zero_grace_cannot_be_cancelled(no_grace: Stack) -> None:
    ada = no_grace.person("ada@example.com")
    no_grace.client.get("/v1/me", headers=ada.headers)
    assert no_grace.client.delete("/v1/me", headers=ada.headers).status_code == 202
    refused = no_grace.client.post("/v1/me/deletion/cancel", headers=ada.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "erasure_in_progress"


# --- erasure: the whole account, twice at once ---------------------------------------------------------------


def _seed_everything(stack: Stack, ada: Person) -> None:
    """Uploads, a published output, credits, consents, analytics, a support ticket, a privacy request, an order."""
    client = stack.client
    device = f"dev-{uuid.uuid4().hex}"
    headers = {**ada.headers, "X-Device-ID": device, "User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/130.0"}
    onboard(client, Person(ada.id, ada.email, headers))
    consent = {"device_id": device, "categories": {"analytics": True}, "notice_version": 1}
    assert client.post("/v1/consents", headers=headers, json=consent).status_code == 201
    assert _analytics(stack, ada)
    upload = client.post("/v1/uploads", headers=headers, files={"file": ("a.png", images.plain(), "image/png")})
    assert upload.status_code == 201, upload.text
    _published_output(stack, ada, prompt=f"portrait of {ada.email}")
    ticket = client.post(
        "/v1/support/tickets",
        headers=headers,
        data={"subject": "help", "message": f"reach me at {ada.email}"},
        files=[("attachments", ("s.png", images.plain(), "image/png"))],
    )
    assert ticket.status_code == 201, ticket.text
    client.patch("/v1/me", headers=headers, json={"full_name": "Ada King"})
    with stack.db.transaction() as conn:
        ref = audit.subject_ref(conn, ada.id)
        conn.execute(
            """insert into billing_orders (polar_order_id, user_id, customer_ref, billing_reason, status, currency,
                                           net_amount, tax_amount, total_amount, grant_state, ordered_at)
               values ('ord_1', %s, %s, 'purchase', 'paid', 'eur', 1000, 200, 1200, 'none', now())""",
            (ada.id, ref),
        )
        conn.execute(
            """insert into billing_webhook_inbox (webhook_id, event_type, payload, external_customer_id, signed_at,
                                                  status, processed_at)
               values ('wh_1', 'order.paid', %s, %s, now(), 'processed', now())""",
            (f'{{"customer": {{"external_id": "{ada.id}"}}}}', str(ada.id)),
        )
    assert stack.storage.list(user_prefix(ada.id)), "the seed stores objects"


def test_erasure_removes_everything_once_even_when_two_runs_race(stack: Stack) -> None:
    ada, bob = stack.person("ada@example.com"), stack.person("bob@example.com")
    stack.client.get("/v1/me", headers=bob.headers)
    bobs = _published_output(stack, bob)
    _seed_everything(stack, ada)
    assert rows_mentioning(stack.db, [str(ada.id)]), "the scan sees her rows before erasure"
    assert stack.client.delete("/v1/me", headers=ada.headers).status_code == 202

    later = datetime.now(UTC) + timedelta(days=8)
    processors = erasure_processors(stack.settings)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(erasure.run_erasures(stack.db, processors, now=later))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]

    # nothing of her remains but the pseudonymised order (and pseudonymous audit rows, register, tombstone)
    found = rows_mentioning(stack.db, [str(ada.id), ada.id.hex, ada.email, "Ada King"])
    assert found == []
    with stack.db.transaction() as conn:
        order = conn.execute("select user_id, customer_ref from billing_orders").fetchone()
        ref = conn.execute("select subject_ref from erased_accounts").fetchone()
        register = conn.execute("select kind, status, user_id from privacy_requests where kind = 'erasure'").fetchone()
    assert order is not None
    assert order["user_id"] is None
    assert ref is not None
    assert order["customer_ref"] == ref["subject_ref"]
    assert register == {"kind": "erasure", "status": "completed", "user_id": None}
    assert stack.storage.list(user_prefix(ada.id)) == []
    assert [r.path for r in stack.deletes("/auth/v1/admin/users/")] == [f"/auth/v1/admin/users/{ada.id}"]
    polar = stack.deletes("/v1/customers/external/")
    assert [r.path.split("?")[0] for r in polar] == [f"/v1/customers/external/{ada.id}"]
    assert "anonymize=true" in polar[0].path

    # the token she had still verifies at the identity provider's keys, and is refused by us
    after = stack.client.get("/v1/me", headers=ada.headers)
    assert after.status_code in (401, 403)
    assert after.json()["error"]["code"] == "account_erased"
    assert rows_mentioning(stack.db, [str(ada.id)]) == [], "the refused token did not re-create the account"
    # bob is untouched
    assert bobs in _gallery_ids(stack.client)
    assert stack.client.get("/v1/me", headers=bob.headers).status_code == 200


def test_a_failing_processor_is_retried_from_the_step_it_reached(stack: Stack) -> None:
    ada = stack.person("ada@example.com")
    stack.client.get("/v1/me", headers=ada.headers)
    _published_output(stack, ada)
    stack.client.delete("/v1/me", headers=ada.headers)
    stack.remote.routes[("DELETE", f"/auth/v1/admin/users/{ada.id}")] = lambda _: Reply(500, {})
    processors = erasure_processors(stack.settings)
    later = datetime.now(UTC) + timedelta(days=8)
    assert erasure.run_erasures(stack.db, processors, now=later) == 0
    with stack.db.transaction() as conn:
        progress = erasure.pending(conn, ada.id)
        row = conn.execute("select last_error from account_erasures").fetchone()
    assert progress is not None
    assert progress.steps_done == ("storage", "improvement_dataset", "personal_rows", "polar_customer")
    assert row == {"last_error": "AuthAdminError"}
    assert stack.storage.list(user_prefix(ada.id)) == []
    assert erasure.run_erasures(stack.db, processors, now=later + timedelta(minutes=1)) == 0  # waits to retry
    stack.remote.routes[("DELETE", f"/auth/v1/admin/users/{ada.id}")] = lambda _: Reply(200, {})
    assert erasure.run_erasures(stack.db, processors, now=later + timedelta(minutes=11)) == 1
    assert len(stack.deletes("/v1/customers/external/")) == 1  # the finished step was not repeated
    assert rows_mentioning(stack.db, [str(ada.id)]) == []


def test_an_unreachable_processor_holds_back_only_its_own_step(stack: Stack) -> None:
    """An under-13 refusal while Polar is down: storage, the Auth user and every personal row go at once; only the
    account row (no email left) and the progress row wait for Polar; no export is built meanwhile, and the next
    run after Polar returns finishes."""
    child = stack.person("young.one@example.com")
    stack.remote.routes[("DELETE", f"/v1/customers/external/{child.id}")] = lambda _: Reply(503, {"detail": "down"})
    device = f"dev-{uuid.uuid4().hex}"
    headers = {**child.headers, "X-Device-ID": device, "User-Agent": "Mozilla/5.0 (iPhone) Safari/604.1"}
    assert stack.client.get("/v1/me", headers=headers).status_code == 200  # a security-log row with its address
    consent = {"device_id": device, "categories": {"analytics": True}, "notice_version": 1}
    assert stack.client.post("/v1/consents", headers=headers, json=consent).status_code == 201
    contact = {"email": child.email, "topic": "general", "message": "hello"}
    assert stack.client.post("/v1/contact", json=contact).status_code == 202
    assert stack.client.post("/v1/me/exports", headers=headers).status_code == 202
    stack.storage.put(f"{user_prefix(child.id)}uploads/a.png", images.plain("PNG"), "image/png")

    version = stack.client.get("/v1/policies/current").json()["version"]
    body = {"birth_date": "2020-01-01", "accepted_policy_version": version}
    refused = stack.client.post("/v1/me/onboarding", headers=headers, json=body)
    assert refused.json()["error"]["code"] == "underage"

    with stack.db.transaction() as conn:
        progress = erasure.pending(conn, child.id)
        row = conn.execute("select last_error from account_erasures").fetchone()
    assert progress is not None
    assert "polar_customer" not in progress.steps_done
    assert {"storage", "auth_user", "personal_rows"} <= set(progress.steps_done)
    assert row == {"last_error": "PaymentProviderError"}
    assert stack.storage.list(user_prefix(child.id)) == []
    assert [r.path for r in stack.deletes("/auth/v1/admin/users/")] == [f"/auth/v1/admin/users/{child.id}"]
    assert rows_mentioning(stack.db, [child.email, device]) == []
    assert set(rows_mentioning(stack.db, [str(child.id)])) <= {
        ("accounts", "id"),
        ("account_erasures", "user_id"),
        ("privacy_requests", "user_id"),  # the register: pseudonymised with the account row
    }
    assert exports.build_exports(stack.db, stack.storage, now=datetime.now(UTC), days=7) == 0
    assert stack.storage.list(user_prefix(child.id)) == []

    stack.remote.routes[("DELETE", f"/v1/customers/external/{child.id}")] = lambda _: Reply(204, b"")
    later = datetime.now(UTC) + erasure.RETRY_AFTER + timedelta(minutes=1)
    assert erasure.run_erasures(stack.db, erasure_processors(stack.settings), now=later) == 1
    assert rows_mentioning(stack.db, [str(child.id), child.email]) == []
    assert len(stack.deletes("/auth/v1/admin/users/")) == 1  # the finished steps were not repeated
