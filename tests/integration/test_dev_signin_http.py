"""The studio's local sign-in: only with ATELIER_ENV=local, only for loopback clients, absent in production."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from functions.tasks import erasure_processors
from shared.kit.db import Database
from shared.privacy.erasure import run_erasures
from tests.support.production import MAIL_SETTINGS
from tests.support.tokens import HS256_SECRET, bearer

LOOPBACK = ("127.0.0.1", 50123)
LOCAL_BASE = "http://localhost:8123"  # the page of the local stack, as a browser on this machine addresses it
PATH = "/v1/dev/sign-in"


def test_a_loopback_client_gets_a_token_the_api_accepts(tmp_path: Path, db: Database) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path), db), client=LOOPBACK, base_url=LOCAL_BASE) as local:
        answer = local.post(PATH, json={"email": "  ada@example.com "})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"] == "bearer"
        me = local.get("/v1/me", headers=bearer(body["access_token"]))
        assert me.status_code == 200
        assert me.json()["email"] == "ada@example.com"
        again = local.post(PATH, json={"email": "ADA@example.com"}).json()["access_token"]
        assert local.get("/v1/me", headers=bearer(again)).json()["id"] == me.json()["id"]  # same person


def test_other_clients_and_forwarded_requests_are_refused(tmp_path: Path, db: Database) -> None:
    app = create_app(Settings(data_dir=tmp_path), db)
    with TestClient(app, client=("192.0.2.10", 40000)) as remote:
        refused = remote.post(PATH, json={"email": "ada@example.com"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "local_only")
    with TestClient(app, client=LOOPBACK, base_url=LOCAL_BASE) as local:
        proxied = local.post(PATH, json={"email": "ada@example.com"}, headers={"X-Forwarded-For": "198.51.100.7"})
        assert (proxied.status_code, proxied.json()["error"]["code"]) == (403, "local_only")
        bad = local.post(PATH, json={"email": "not an email"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_email")


def test_a_page_on_another_host_name_resolving_to_loopback_is_refused(tmp_path: Path, db: Database) -> None:
    """DNS rebinding: a page at attacker.example whose name now resolves to 127.0.0.1 calls the local stack from
    this machine; the socket's peer is loopback, but the Host it sends is its own name."""
    app = create_app(Settings(data_dir=tmp_path), db)
    with TestClient(app, client=LOOPBACK, base_url="http://attacker.example:8123") as rebound:
        refused = rebound.post(PATH, json={"email": "ada@example.com"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "local_only")
    for host in ("attacker.example", "localhost.attacker.example", "127.0.0.1.nip.io", "192.0.2.1:8000", ""):
        with TestClient(app, client=LOOPBACK, base_url=LOCAL_BASE) as local:
            refused = local.post(PATH, json={"email": "ada@example.com"}, headers={"Host": host})
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "local_only"), host
    for host in ("localhost", "LOCALHOST:8000", "studio.localhost:8000", "127.0.0.1:8000", "127.8.9.10", "[::1]:8000"):
        with TestClient(app, client=LOOPBACK, base_url=LOCAL_BASE) as local:
            answered = local.post(PATH, json={"email": "ada@example.com"}, headers={"Host": host})
            assert answered.status_code == 200, (host, answered.text)


def test_the_route_does_not_exist_in_production(tmp_path: Path, db: Database) -> None:
    production = Settings(
        data_dir=tmp_path,
        environment="production",
        database_url="postgresql://db.example/postgres",
        supabase_url="https://proj.supabase.co",
        supabase_secret_key="sb_secret_real_value",
        supabase_jwt_secret=HS256_SECRET,
        **MAIL_SETTINGS,
    )
    app = create_app(production, db)
    assert not any(getattr(route, "path", "").startswith("/v1/dev") for route in app.routes)
    with TestClient(app, client=LOOPBACK, base_url=LOCAL_BASE) as local:
        assert local.post(PATH, json={"email": "ada@example.com"}).status_code in (404, 405)
        assert PATH not in app.openapi()["paths"]


def test_after_erasure_the_address_signs_up_afresh_as_with_supabase(tmp_path: Path, db: Database) -> None:
    settings = Settings(data_dir=tmp_path, deletion_grace_days=0)
    with TestClient(create_app(settings, db), client=LOOPBACK, base_url=LOCAL_BASE) as local:
        first = bearer(local.post(PATH, json={"email": "eve@example.com"}).json()["access_token"])
        old_id = local.get("/v1/me", headers=first).json()["id"]
        assert local.delete("/v1/me", headers=first).status_code == 202
        assert run_erasures(db, erasure_processors(settings), now=datetime.now(UTC)) == 1
        assert local.get("/v1/me", headers=first).status_code == 401  # the old token names the erased account

        again = bearer(local.post(PATH, json={"email": "eve@example.com"}).json()["access_token"])
        me = local.get("/v1/me", headers=again).json()
        assert me["id"] != old_id
        assert me["email"] == "eve@example.com"
        assert me["onboarding"]["done"] is False  # a new, empty account
        assert local.post(PATH, json={"email": "EVE@example.com"}).json()["access_token"]
        assert local.get("/v1/me", headers=again).json()["id"] == me["id"]  # and it stays that one
