"""Onboarding and the under-13 rule over HTTP, with a loopback Supabase Auth admin API."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response

from config.settings import Settings
from functions.api.app import create_app
from functions.api.deps import OnboardedCaller
from shared.accounts.auth_admin import AuthAdminError, SupabaseAuthAdmin
from shared.kit.db import Database
from shared.lifecycle.onboarding import age_on
from shared.media.storage import LocalStorage
from shared.notify.policy_update import publish
from tests.support.images import photo, plain
from tests.support.loopback import Loopback, Reply, loopback_server
from tests.support.people import Person, onboard, person, rows_mentioning
from tests.support.tokens import HS256_SECRET, bearer, hs256

SECRET_KEY = "sb_secret_loopback_test_key_0123456789"


def _years_ago(years: int, today: date | None = None) -> date:
    today = today or datetime.now(UTC).date()
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def _with_probe(app: FastAPI) -> FastAPI:
    """A stand-in for the generation and purchase routes (other branches) that require onboarding."""

    @app.post("/v1/probe/generate")
    def probe(caller: OnboardedCaller) -> dict[str, str]:
        return {"id": str(caller.account.id)}

    return app


@pytest.fixture
def supabase_client(tmp_path: Path, db: Database) -> Iterator[tuple[TestClient, Loopback]]:
    """The app configured for a Supabase project whose Auth admin API is a loopback server."""
    with loopback_server() as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            supabase_url=server.url,
            supabase_jwt_secret=HS256_SECRET,
            supabase_secret_key=SECRET_KEY,
        )
        storage = LocalStorage(tmp_path / "objects")
        with TestClient(_with_probe(create_app(settings, db, storage=storage))) as client:
            yield client, server


def _supabase_person(server: Loopback, email: str) -> Person:
    """A user of the loopback project; its Auth admin API answers 200 to deleting them."""
    user_id = uuid.uuid4()
    server.routes[("DELETE", f"/auth/v1/admin/users/{user_id}")] = lambda _: Reply(200, {})
    return Person(user_id, email, bearer(hs256(user_id=user_id, email=email, iss=f"{server.url}/auth/v1")))


def test_twelve_year_old_is_refused_and_nothing_of_them_remains(
    supabase_client: tuple[TestClient, Loopback], db: Database, tmp_path: Path
) -> None:
    client, server = supabase_client
    child = _supabase_person(server, "young.one@example.com")
    adult = _supabase_person(server, "grown.up@example.com")
    onboard(client, adult)
    device = f"dev-{uuid.uuid4().hex}"
    headers = {**child.headers, "X-Device-ID": device, "User-Agent": "Mozilla/5.0 (iPhone) Safari/604.1"}
    # Give the account data first: consent, a notice and email, a security log, an acceptance, an upload, a ticket.
    assert (
        client.post(
            "/v1/consents",
            json={"device_id": device, "categories": {"analytics": True}, "notice_version": 1},
            headers=headers,
        ).status_code
        == 201
    )
    assert (
        client.post("/v1/me/policy-acceptances", json={"version": 1, "kind": "terms"}, headers=headers).status_code
        == 201
    )
    # Uploads and tickets wait for onboarding; objects stored for the account otherwise must still go.
    upload = client.post("/v1/uploads", files={"file": ("me.jpg", photo("JPEG"), "image/jpeg")}, headers=headers)
    assert upload.json()["error"]["code"] == "onboarding_required"
    ticket = client.post(
        "/v1/support/tickets",
        data={"subject": "help", "message": "from young.one@example.com"},
        files=[("attachments", ("a.png", plain("PNG"), "image/png"))],
        headers=headers,
    )
    assert ticket.json()["error"]["code"] == "onboarding_required"
    storage = LocalStorage(tmp_path / "objects")
    for name in ("a", "b"):
        storage.put(f"users/{child.id}/uploads/{name}.png", plain("PNG"), "image/png")
    storage.put(f"users/{child.id}/thumbnails/a.webp", plain("WEBP"), "image/webp")
    with db.transaction() as conn:
        conn.execute(
            "insert into support_tickets (user_id, subject) values (%s, %s)", (child.id, f"from {child.email}")
        )
    objects = tmp_path / "objects" / "users" / str(child.id)
    assert len([p for p in objects.rglob("*") if p.is_file()]) == 3  # uploads and a thumbnail, placed directly
    publish(db, "Privacy v2.\n", kind="privacy", material=False)
    assert rows_mentioning(db, [str(child.id)]), "the scan must see the child's rows before the refusal"

    birth = _years_ago(12)
    response = client.post(
        "/v1/me/onboarding", json={"birth_date": birth.isoformat(), "accepted_policy_version": 2}, headers=headers
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "underage"

    assert rows_mentioning(db, [str(child.id), child.id.hex, child.email, birth.isoformat()]) == []
    assert not [p for p in objects.rglob("*") if p.is_file()], "the child's stored images must be gone"
    assert rows_mentioning(db, [str(adult.id)]), "the adult's rows must survive"
    deletes = [r for r in server.requests if r.method == "DELETE"]
    assert len(deletes) == 1
    assert deletes[0].path == f"/auth/v1/admin/users/{child.id}"
    assert deletes[0].headers["apikey"] == SECRET_KEY
    assert deletes[0].headers["Authorization"] == f"Bearer {SECRET_KEY}"

    # An immediate retry with the same account is refused and creates nothing.
    again = client.get("/v1/me", headers=headers)
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "underage"
    retry = client.post(
        "/v1/me/onboarding", json={"age_confirmed": True, "accepted_policy_version": 2}, headers=headers
    )
    assert retry.json()["error"]["code"] == "underage"
    assert rows_mentioning(db, [str(child.id), child.email]) == []
    assert len([r for r in server.requests if r.method == "DELETE"]) == 1


def test_thirteen_years_is_old_enough(supabase_client: tuple[TestClient, Loopback], db: Database) -> None:
    client, server = supabase_client
    teen = _supabase_person(server, "teen@example.com")
    birth = _years_ago(13)
    response = client.post(
        "/v1/me/onboarding", json={"birth_date": birth.isoformat(), "accepted_policy_version": 1}, headers=teen.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["policy_version"] == 1
    with db.transaction() as conn:
        row = conn.execute(
            "select onboarded_at, age_verified_at, age_check from accounts where id = %s", (teen.id,)
        ).fetchone()
    assert row is not None
    assert row["onboarded_at"] is not None
    assert row["age_verified_at"] is not None
    assert row["age_check"] == "birth_date"
    assert rows_mentioning(db, [birth.isoformat(), birth.strftime("%Y%m%d")]) == []
    assert not [r for r in server.requests if r.method == "DELETE"]


def test_age_arithmetic_counts_birthdays() -> None:
    today = date(2026, 11, 23)
    assert age_on(date(2013, 11, 23), today) == 13
    assert age_on(date(2013, 11, 24), today) == 12
    assert age_on(date(2012, 2, 29), date(2025, 2, 28)) == 12
    assert age_on(date(2012, 2, 29), date(2025, 3, 1)) == 13


def test_generation_and_purchase_need_onboarding(settings: Settings, db: Database) -> None:
    with TestClient(_with_probe(create_app(settings, db))) as client:
        ada = person()
        refused = client.post("/v1/probe/generate", headers=ada.headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "onboarding_required"
        done = onboard(client, ada)
        assert done["policy_version"] == 1
        assert client.post("/v1/probe/generate", headers=ada.headers).status_code == 200
        # Onboarding happens once; a second call is refused and changes nothing.
        again = client.post(
            "/v1/me/onboarding", json={"age_confirmed": True, "accepted_policy_version": 1}, headers=ada.headers
        )
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_onboarded"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"accepted_policy_version": 1}, 422, "invalid_request"),
        ({"age_confirmed": True, "birth_date": "2000-01-01", "accepted_policy_version": 1}, 422, "invalid_request"),
        ({"birth_date": "2999-01-01", "accepted_policy_version": 1}, 422, "invalid_birth_date"),
        ({"age_confirmed": True, "accepted_policy_version": 4}, 422, "unknown_policy_version"),
    ],
)
def test_bad_onboarding_is_refused_and_writes_nothing(
    client: TestClient, db: Database, body: dict[str, object], status: int, code: str
) -> None:
    ada = person()
    response = client.post("/v1/me/onboarding", json=body, headers=ada.headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    with db.transaction() as conn:
        row = conn.execute("select onboarded_at from accounts where id = %s", (ada.id,)).fetchone()
        acceptances = conn.execute("select count(*) as n from policy_acceptances").fetchone()
    assert row == {"onboarded_at": None}
    assert acceptances == {"n": 0}


def test_an_outdated_policy_version_is_refused(client: TestClient, db: Database) -> None:
    publish(db, "Privacy v2.\n", kind="privacy", material=True)
    response = client.post(
        "/v1/me/onboarding", json={"age_confirmed": True, "accepted_policy_version": 1}, headers=person().headers
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "policy_version_not_current"


def test_local_stack_refuses_a_child_without_calling_supabase(client: TestClient, db: Database) -> None:
    child = person()
    response = client.post(
        "/v1/me/onboarding", json={"age_confirmed": False, "accepted_policy_version": 1}, headers=child.headers
    )
    assert response.json()["error"]["code"] == "underage"
    assert rows_mentioning(db, [str(child.id), child.email]) == []
    assert client.get("/v1/me", headers=child.headers).status_code == 403


def test_the_block_expires(client: TestClient, db: Database) -> None:
    child = person()
    client.post("/v1/me/onboarding", json={"age_confirmed": False, "accepted_policy_version": 1}, headers=child.headers)
    assert client.get("/v1/me", headers=child.headers).status_code == 403
    with db.transaction() as conn:
        conn.execute("update blocked_signups set expires_at = now() - interval '1 second'")
    assert client.get("/v1/me", headers=child.headers).status_code == 200


def test_concurrent_underage_refusals_delete_once(supabase_client: tuple[TestClient, Loopback], db: Database) -> None:
    client, server = supabase_client
    child = _supabase_person(server, "twice@example.com")
    assert client.get("/v1/me", headers=child.headers).status_code == 200
    barrier = threading.Barrier(2)
    codes: list[str] = []

    def refuse() -> None:
        barrier.wait()
        body = {"birth_date": _years_ago(10).isoformat(), "accepted_policy_version": 1}
        codes.append(client.post("/v1/me/onboarding", json=body, headers=child.headers).json()["error"]["code"])

    threads = [threading.Thread(target=refuse) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == ["underage", "underage"]
    assert rows_mentioning(db, [str(child.id), child.email]) == []
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from blocked_signups").fetchone() == {"n": 1}
    assert len([r for r in server.requests if r.method == "DELETE"]) == 1


def test_auth_admin_client_uses_the_injected_transport_and_reports_failures(settings: Settings) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "fail" in str(request.url):
            return httpx.Response(500)
        if "proxy" in str(request.url):
            return httpx.Response(404, text="404 page not found")  # a route, not Supabase Auth's answer
        return httpx.Response(404, json={"code": 404, "error_code": "user_not_found", "msg": "User not found"})

    configured = settings.model_copy(update={"supabase_url": "https://fail.example", "supabase_secret_key": "k"})
    admin = SupabaseAuthAdmin(configured, transport=httpx.MockTransport(handler))
    with pytest.raises(AuthAdminError):
        admin.delete_user(uuid.uuid4())
    ok = SupabaseAuthAdmin(
        settings.model_copy(update={"supabase_url": "https://gone.example", "supabase_secret_key": "k"}),
        transport=httpx.MockTransport(handler),
    )
    assert ok.delete_user(uuid.uuid4()) is True  # Supabase Auth's user_not_found: already gone
    proxy = SupabaseAuthAdmin(
        settings.model_copy(update={"supabase_url": "https://proxy.example", "supabase_secret_key": "k"}),
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(AuthAdminError):
        proxy.delete_user(uuid.uuid4())  # any other 404 is not "gone"
    assert SupabaseAuthAdmin(settings).delete_user(uuid.uuid4()) is False  # not configured: no call
    assert len(seen) == 3


def _onboard_twice_at_once(client: TestClient, who: Person, version: int) -> dict[str, Response]:
    """An adult and an under-13 answer for one account, released together from two threads."""
    barrier = threading.Barrier(2)
    answers: dict[str, Response] = {}
    bodies: dict[str, dict[str, object]] = {
        "adult": {"age_confirmed": True, "accepted_policy_version": version},
        "child": {"birth_date": _years_ago(10).isoformat(), "accepted_policy_version": version},
    }

    def send(kind: str) -> None:
        barrier.wait()
        answers[kind] = client.post("/v1/me/onboarding", json=bodies[kind], headers=who.headers)

    threads = [threading.Thread(target=send, args=(kind,)) for kind in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_adult_and_underage_onboarding_at_once_have_one_truthful_winner(
    supabase_client: tuple[TestClient, Loopback], db: Database
) -> None:
    """Both answers are sent at once, many times: either the adult one wins (200, and the under-13 one is
    refused with 409, nothing erased) or the under-13 one wins (403 underage, the account erased, and the adult
    one refused with 403/401): never 200 "onboarded" for an account that is then erased."""
    client, server = supabase_client
    version = client.get("/v1/policies/current").json()["version"]
    winners: set[str] = set()
    for round_ in range(30):
        who = _supabase_person(server, f"race-{round_}@example.com")
        assert client.get("/v1/me", headers=who.headers).status_code == 200
        answers = _onboard_twice_at_once(client, who, version)
        with db.transaction() as conn:
            account = conn.execute("select onboarded_at from accounts where id = %s", (who.id,)).fetchone()
            locked = conn.execute("select 1 from account_erasures where user_id = %s", (who.id,)).fetchone()
        grown, young = answers["adult"], answers["child"]
        if grown.status_code == 200:
            winners.add("adult")
            assert young.status_code == 409, (round_, young.text)
            assert young.json()["error"]["code"] == "already_onboarded"
            assert account is not None
            assert account["onboarded_at"] is not None
            assert locked is None, f"round {round_}: an onboarded account was locked for erasure"
        else:
            winners.add("child")
            assert young.status_code == 403, (round_, young.text)
            assert young.json()["error"]["code"] == "underage"
            assert grown.status_code in (401, 403), (round_, grown.text)
            assert grown.json()["error"]["code"] in ("underage", "account_locked", "account_erased")
            assert account is None, f"round {round_}: the refused account was not erased"
    assert winners, "every round had a winner"
