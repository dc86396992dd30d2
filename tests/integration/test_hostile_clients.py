"""What a hostile client tried against the local stack, and what it gets now: one test per attack.

Each test reproduces the attack as the red team ran it (real app, real Postgres, real tokens; remote
services played by loopback servers) and checks the answer is a clean refusal with a stable code,
with nothing half-written and nothing left behind.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from config.settings import Settings
from functions.api.app import create_app
from shared.jobs import repo as jobs_repo
from shared.jobs.reconcile import reconcile
from shared.kit.db import Database
from shared.media.storage import Storage, build_storage, user_prefix
from tests.support import images
from tests.support.loopback import Loopback, Recorded, Reply, loopback_server
from tests.support.people import Person, onboard, person
from tests.support.tokens import HS256_SECRET, bearer, hs256

SECRET_KEY = "sb_secret_loopback_test_key_0123456789"


def _code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


# --- 5. A deeply nested cursor ---------------------------------------------------------------------------

NESTED = base64.urlsafe_b64encode(b"[" * 3000).decode().rstrip("=")
PAGED_ROUTES = ["/v1/gallery", "/v1/media", "/v1/support/tickets", "/v1/credits/ledger", "/v1/me/notifications"]


@pytest.mark.parametrize("path", PAGED_ROUTES)
@pytest.mark.parametrize(
    "cursor",
    [
        NESTED,  # RecursionError in the JSON parser: was a 500 with a traceback logged each time
        base64.urlsafe_b64encode(b'["x", 1]').decode(),  # the right shape, the wrong types
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"]').decode(),
        "%%%not-base64%%%",
        "A" * 5000,
    ],
    ids=["nested", "wrong-types", "object", "naive-time", "not-base64", "huge"],
)
def test_a_forged_cursor_is_400_invalid_cursor_on_every_paged_route(client: TestClient, path: str, cursor: str) -> None:
    ada = person()
    response = client.get(path, params={"cursor": cursor}, headers=ada.headers)
    assert response.status_code == 400, response.text
    assert _code(response) == "invalid_cursor"


def test_an_issued_cursor_still_pages(client: TestClient, db: Database) -> None:
    ada = person()
    client.get("/v1/me", headers=ada.headers)
    with db.transaction() as conn:
        for n in range(3):
            conn.execute(
                """insert into notifications (user_id, kind, title, body, created_at)
                   values (%s, 'notice', 'Hello', 'Body', now() - make_interval(secs => %s))""",
                (ada.id, n),
            )
    first = client.get("/v1/me/notifications", params={"limit": 2}, headers=ada.headers).json()
    assert first["next_cursor"] is not None
    rest = client.get(
        "/v1/me/notifications", params={"limit": 2, "cursor": first["next_cursor"]}, headers=ada.headers
    ).json()
    assert len(first["items"]) + len(rest["items"]) == 3
    assert rest["next_cursor"] is None


# --- 6. NUL and other control characters -------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["Ada\u0000Lovelace", "bell\u0007", "\ud800lone surrogate"], ids=["nul", "bel", "surr"]
)
def test_control_characters_in_stored_text_are_422_not_500(client: TestClient, text: str) -> None:
    ada = person()
    onboard(client, ada)

    def send(method: str, path: str, body: dict[str, Any]) -> Any:
        raw = json.dumps(body).encode()  # ASCII with \u escapes: a lone surrogate travels as JSON allows
        return client.request(method, path, content=raw, headers={**ada.headers, "Content-Type": "application/json"})

    answers = [
        send("PATCH", "/v1/me", {"display_name": text}),
        send("PATCH", "/v1/me", {"full_name": text}),
        send("PUT", "/v1/me/restriction", {"restricted": True, "reason": text}),
        send("POST", "/v1/jobs", {"task": "text_to_image", "prompt": text}),
    ]
    assert [(r.status_code, _code(r)) for r in answers] == [(422, "invalid_request")] * len(answers)
    if "\ud800" not in text:  # a form field is UTF-8 on the wire: no surrogate can travel there
        tickets = [
            client.post("/v1/support/tickets", data={"subject": text, "message": "hello"}, headers=ada.headers),
            client.post("/v1/support/tickets", data={"subject": "hello", "message": text}, headers=ada.headers),
        ]
        assert [(r.status_code, _code(r)) for r in tickets] == [(422, "invalid_support_text")] * 2
    me = client.get("/v1/me", headers=ada.headers).json()
    assert me["restricted"] is False  # nothing half-written


def test_claims_with_control_characters_are_cleaned_before_they_are_stored(client: TestClient) -> None:
    user_id = uuid.uuid4()
    token = hs256(
        user_id=user_id,
        email="ada\u0000@example.com",
        user_metadata={"name": "Ada\u0000\u0007 Lovelace", "full_name": "\u0000"},
    )
    response = client.get("/v1/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["email"] == "ada@example.com"
    assert me["full_name"] is None


# --- 7. An extreme `iat` ---------------------------------------------------------------------------------


@pytest.mark.parametrize("iat", [-1e18, 1e18, -1, float("nan")], ids=["-1e18", "1e18", "-1", "nan"])
def test_a_signed_token_with_an_out_of_range_iat_is_401(client: TestClient, iat: float) -> None:
    response = client.get("/v1/me", headers=bearer(hs256(iat=iat)))
    assert response.status_code == 401, response.text
    assert _code(response) == "invalid_token"


def test_a_signed_token_with_an_infinite_exp_is_401(client: TestClient) -> None:
    response = client.get("/v1/me", headers=bearer(hs256(exp=float("inf"))))
    assert response.status_code == 401, response.text


# --- 2. Onboarding replayed to destroy an account; strict booleans -------------------------------------


@pytest.mark.parametrize("replay", [{"age_confirmed": False}, {"birth_date": "2020-01-01"}, {"age_confirmed": True}])
def test_onboarding_is_once_a_replay_is_409_and_the_account_stays(
    client: TestClient, db: Database, replay: dict[str, Any]
) -> None:
    ada = person()
    onboard(client, ada)
    response = client.post("/v1/me/onboarding", json={**replay, "accepted_policy_version": 1}, headers=ada.headers)
    assert response.status_code == 409, response.text
    assert _code(response) == "already_onboarded"
    assert client.get("/v1/me", headers=ada.headers).status_code == 200
    with db.transaction() as conn:
        assert conn.execute("select 1 from account_erasures where user_id = %s", (ada.id,)).fetchone() is None


@pytest.mark.parametrize(
    "signal",
    [
        {"age_confirmed": 0},
        {"age_confirmed": "0"},
        {"age_confirmed": "false"},
        {"age_confirmed": 0.0},
        {"birth_date": 0},
        {"birth_date": "2020-01-01T00:00:00"},
        {"birth_date": 1577836800},
    ],
)
def test_age_flags_are_strict_no_coercion_reaches_the_under_13_path(
    client: TestClient, db: Database, signal: dict[str, Any]
) -> None:
    ada = person()
    client.get("/v1/me", headers=ada.headers)
    response = client.post("/v1/me/onboarding", json={**signal, "accepted_policy_version": 1}, headers=ada.headers)
    assert response.status_code == 422, response.text
    assert client.get("/v1/me", headers=ada.headers).status_code == 200  # not erased, not blocked


@pytest.mark.parametrize("falsy", [0, 0.0, "0", "false", 1, "true"])
def test_booleans_are_strict_for_restriction_preferences_and_consent(client: TestClient, falsy: object) -> None:
    ada = person()
    onboard(client, ada)
    answers = [
        client.put("/v1/me/restriction", json={"restricted": falsy}, headers=ada.headers),
        client.put("/v1/me/preferences", json={"analytics": falsy}, headers=ada.headers),
        client.post(
            "/v1/consents",
            json={"device_id": f"dev-{uuid.uuid4().hex}", "categories": {"analytics": falsy}, "notice_version": 1},
        ),
    ]
    assert [r.status_code for r in answers] == [422, 422, 422]


# --- OPTIONS and other undocumented methods ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "documented"),
    [("/v1/me", "DELETE, GET, PATCH"), ("/v1/jobs", "GET, POST"), ("/v1/gallery", "GET")],
)
@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "TRACE"])
def test_undocumented_methods_answer_405_with_every_documented_method(
    client: TestClient, path: str, documented: str, method: str
) -> None:
    spec = client.get("/openapi.json").json()["paths"][path]
    assert ", ".join(sorted(m.upper() for m in spec)) == documented
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == documented


# --- 8. A worker that dies mid-job ----------------------------------------------------------------------


def test_a_job_whose_worker_died_is_failed_within_a_minute_and_its_credits_return(
    client: TestClient, db: Database
) -> None:
    ada = person()
    onboard(client, ada)
    before = client.get("/v1/credits", headers=ada.headers).json()["available"]
    created = client.post("/v1/jobs", json={"task": "text_to_image", "prompt": "a fox"}, headers=ada.headers)
    assert created.status_code == 202, created.text
    job_id = uuid.UUID(created.json()["id"])
    assert client.get("/v1/credits", headers=ada.headers).json()["available"] < before
    with db.transaction() as conn:
        assert jobs_repo.claim(conn, job_id) is not None  # a worker took it ... and its process died here

    class NoDispatch:
        def dispatch(self, job_id: uuid.UUID, model: str) -> None:
            return None

    assert reconcile(db, NoDispatch(), now=datetime.now(UTC) + timedelta(seconds=30)) == 0  # still beating
    assert reconcile(db, NoDispatch(), now=datetime.now(UTC) + timedelta(seconds=75)) == 1
    job = client.get(f"/v1/jobs/{job_id}", headers=ada.headers).json()
    assert job["status"] == "failed"
    assert job["error"]["code"] == "worker_lost"
    assert client.get("/v1/credits", headers=ada.headers).json()["available"] == before


def test_a_live_worker_keeps_its_job_alive_past_a_minute(db: Database, client: TestClient) -> None:
    from shared.jobs.heartbeat import Heartbeat

    ada = person()
    onboard(client, ada)
    created = client.post("/v1/jobs", json={"task": "text_to_image", "prompt": "a fox"}, headers=ada.headers)
    job_id = uuid.UUID(created.json()["id"])
    with db.transaction() as conn:
        jobs_repo.claim(conn, job_id)
        conn.execute("update jobs set heartbeat_at = now() - interval '5 minutes' where id = %s", (job_id,))
    with Heartbeat(db, job_id, every=0.05):
        beat = threading.Event()
        for _ in range(100):
            with db.transaction() as conn:
                row = conn.execute(
                    "select heartbeat_at > now() - interval '10 seconds' as fresh from jobs where id = %s", (job_id,)
                ).fetchone()
            if row is not None and row["fresh"]:
                beat.set()
                break
            threading.Event().wait(0.05)
    assert beat.is_set()

    class NoDispatch:
        def dispatch(self, job_id: uuid.UUID, model: str) -> None:
            return None

    assert reconcile(db, NoDispatch(), now=datetime.now(UTC)) == 0
    assert client.get(f"/v1/jobs/{job_id}", headers=ada.headers).json()["status"] == "running"


# --- 3. The under-13 path through the erasure steps, and the orphan sweep -------------------------------


@dataclass
class Stack:
    client: TestClient
    db: Database
    settings: Settings
    storage: Storage
    remote: Loopback  # plays Polar's API and Supabase's Auth admin API

    def person(self) -> Person:
        user_id = uuid.uuid4()
        self.remote.routes[("DELETE", f"/auth/v1/admin/users/{user_id}")] = lambda _: Reply(200, {})
        self.remote.routes[("DELETE", f"/v1/customers/external/{user_id}")] = lambda _: Reply(204, b"")
        email = f"kid-{user_id.hex[:8]}@example.com"
        return Person(user_id, email, bearer(hs256(user_id=user_id, email=email, iss=f"{self.remote.url}/auth/v1")))

    def deletes(self, path: str) -> list[Recorded]:
        return [r for r in self.remote.requests if r.method == "DELETE" and r.path.split("?")[0] == path]


@pytest.fixture
def stack(tmp_path: Path, db: Database) -> Iterator[Stack]:
    with loopback_server() as remote:
        settings = Settings(
            data_dir=tmp_path / "data",
            supabase_url=remote.url,
            supabase_jwt_secret=HS256_SECRET,
            supabase_secret_key=SECRET_KEY,
            storage_backend="local",
            polar_access_token="polar_oat_loopback",
            polar_api_url=remote.url,
            rate_limit_overrides={"uploads.user": "1000/60", "uploads.ip": "1000/60", "account.ip": "1000/60"},
        )
        storage = build_storage(settings)
        with TestClient(create_app(settings, db, storage)) as client:
            yield Stack(client, db, settings, storage, remote)


def _under_13() -> str:
    today = datetime.now(UTC).date()
    return date(today.year - 10, 1, 1).isoformat()


@pytest.mark.parametrize("attempt", range(3))
def test_under_13_with_uploads_in_flight_leaves_no_object_row_or_processor_record(stack: Stack, attempt: int) -> None:
    child = stack.person()
    assert stack.client.get("/v1/me", headers=child.headers).status_code == 200
    with stack.db.transaction() as conn:  # a Polar event that named the account (raw id in the inbox)
        conn.execute(
            """insert into billing_webhook_inbox (webhook_id, event_type, payload, external_customer_id, signed_at,
                                                  status, processed_at)
               values (%s, 'order.paid', '{}'::jsonb, %s, now(), 'processed', now())""",
            (f"wh-{uuid.uuid4()}", str(child.id)),
        )
    start = threading.Barrier(13)
    statuses: list[int] = []

    def upload() -> None:
        start.wait()
        for _ in range(2):
            response = stack.client.post(
                "/v1/uploads",
                files={"file": ("me.png", images.noise_png(256, 256), "image/png")},
                headers=child.headers,
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=upload) for _ in range(12)]
    for thread in threads:
        thread.start()
    start.wait()
    refused = stack.client.post(
        "/v1/me/onboarding", json={"birth_date": _under_13(), "accepted_policy_version": 1}, headers=child.headers
    )
    for thread in threads:
        thread.join()
    assert refused.status_code == 403
    assert _code(refused) == "underage"
    assert 500 not in statuses, statuses
    assert set(statuses) <= {201, 401, 403}, statuses
    assert stack.storage.list(user_prefix(child.id)) == []  # nothing written in between survives
    with stack.db.transaction() as conn:
        for table, column in (("accounts", "id"), ("media", "user_id"), ("account_erasures", "user_id")):
            found = conn.execute(f"select count(*) as n from {table} where {column} = %s", (child.id,)).fetchone()
            assert found is not None
            assert found["n"] == 0, table
        inbox = conn.execute(
            "select count(*) as n from billing_webhook_inbox where external_customer_id = %s", (str(child.id),)
        ).fetchone()
        assert inbox is not None
        assert inbox["n"] == 0
        tombstones = conn.execute("select count(*) as n from erased_accounts").fetchone()
        assert tombstones is not None
        assert tombstones["n"] == 0  # an under-13 refusal keeps only the short-lived block hash
    assert len(stack.deletes(f"/v1/customers/external/{child.id}")) == 1
    assert len(stack.deletes(f"/auth/v1/admin/users/{child.id}")) == 1
    again = stack.client.get("/v1/me", headers=child.headers)
    assert again.status_code == 403
    assert _code(again) == "underage"


def test_the_orphan_sweep_deletes_objects_of_accounts_that_are_gone_and_keeps_the_rest(stack: Stack) -> None:
    from functions.tasks import TASKS, run_sweep_orphans

    assert TASKS["sweep-orphan-objects"].run is run_sweep_orphans
    ada = stack.person()
    assert stack.client.get("/v1/me", headers=ada.headers).status_code == 200
    gone = uuid.uuid4()
    kept = f"{user_prefix(ada.id)}uploads/a.png"
    orphans = [f"{user_prefix(gone)}uploads/b.png", f"{user_prefix(gone)}support/c.png"]
    for key in (kept, *orphans):
        stack.storage.put(key, b"x", "image/png")
    stack.storage.put("users/not-an-id/x.png", b"x", "image/png")
    assert run_sweep_orphans(stack.db, datetime.now(UTC), stack.settings) == 2
    assert stack.storage.exists(kept)
    assert stack.storage.list(user_prefix(gone)) == []
    assert stack.storage.exists("users/not-an-id/x.png")  # only account ids are judged; the rest is reported


# --- 4 and 9. The local server itself: spoofed client addresses and slow clients -------------------------

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalStack:
    base: str
    port: int


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """`deploy.py local` as a user runs it: a small per-address budget and a one-second read timeout."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    drop = ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_JWT_SECRET", "ATELIER_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env |= {"ATELIER_RATE_LIMITS": "public.ip=5/60", "ATELIER_READ_TIMEOUT_SECONDS": "1"}
    data_dir = tmp_path_factory.mktemp("stack") / "data"
    command = [sys.executable, "deploy.py", "local", "--data-dir", str(data_dir), "--port", str(port), "--workers", "0"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "the local stack exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the local stack did not become healthy"
            time.sleep(0.2)
        yield LocalStack(base, port)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_rotating_x_forwarded_for_does_not_reset_the_per_address_budget(local_stack: LocalStack) -> None:
    statuses = [
        httpx.get(
            f"{local_stack.base}/v1/gallery", headers={"X-Forwarded-For": f"203.0.113.{n}"}, timeout=5
        ).status_code
        for n in range(8)
    ]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3  # one address (the peer), whatever the header claims


def _closed_by_server(sock: socket.socket, trickle: bytes, *, within: float) -> bool:
    """Send `trickle` one byte at a time, slowly; True once the server has closed the connection."""
    deadline = time.monotonic() + within
    for byte in trickle:
        if time.monotonic() > deadline:
            return False
        try:
            sock.sendall(bytes([byte]))
            sock.settimeout(0.3)
            if sock.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset or broken pipe: closed by the server
            return True
    return False


@pytest.mark.slow
def test_a_client_trickling_its_headers_is_cut_off(local_stack: LocalStack) -> None:
    trickle = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + b"X-Slow: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", local_stack.port)) as sock:
        assert _closed_by_server(sock, trickle, within=15)


@pytest.mark.slow
def test_a_client_that_stalls_its_body_is_cut_off(local_stack: LocalStack) -> None:
    head = b"POST /v1/consents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", local_stack.port)) as sock:
        sock.sendall(head + b"Content-Length: 200\r\n\r\n" + b'{"device_id": ')
        sock.settimeout(15)
        try:
            answer = sock.recv(1024)
        except TimeoutError:
            pytest.fail("the server still waits for the rest of the body")
        except OSError:  # reset: closed by the server
            answer = b""
        assert not answer.startswith(b"HTTP/1.1 2")  # closed (or refused), never served after a stall


@pytest.mark.slow
def test_an_idle_connection_that_never_sends_a_request_is_closed(local_stack: LocalStack) -> None:
    with socket.create_connection(("127.0.0.1", local_stack.port)) as sock:
        sock.settimeout(15)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(1024) == b""
    assert httpx.get(f"{local_stack.base}/healthz", timeout=5).status_code == 200  # honest clients still served


# --- 1. Pixel bombs under the byte cap ------------------------------------------------------------------


def _flat_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (10, 120, 10)).save(out, "PNG", optimize=True)
    return out.getvalue()


def _forged_jpeg(width: int, height: int) -> bytes:
    """A 16x16 JPEG whose frame header claims width x height: libjpeg pads the missing scan out."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    frame = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, height, width)
    return bytes(data)


def _upload(client: TestClient, who: Person, data: bytes) -> Any:
    return client.post("/v1/uploads", files={"file": ("x", data, "application/octet-stream")}, headers=who.headers)


def test_a_single_colour_6300_square_png_is_refused_before_decoding(client: TestClient, db: Database) -> None:
    ada = person()
    onboard(client, ada)
    bomb = _flat_png(6300)
    assert len(bomb) < 200_000  # ~100 KB on the wire, 119 MB of pixels
    response = _upload(client, ada, bomb)
    assert response.status_code == 422, response.text
    assert _code(response) == "image_too_large"


@pytest.mark.parametrize("size", [(6000, 6000), (4000, 4000), (4096, 2048)])
def test_a_jpeg_whose_header_promises_more_than_its_scan_holds_is_refused(
    client: TestClient, size: tuple[int, int]
) -> None:
    ada = person()
    onboard(client, ada)
    forged = _forged_jpeg(*size)
    assert len(forged) < 1000
    response = _upload(client, ada, forged)
    assert response.status_code == 422, response.text
    assert _code(response) in ("invalid_image", "image_too_large")
    assert client.get("/v1/media", headers=ada.headers).json()["items"] == []


def test_five_bombs_in_one_support_ticket_are_refused_and_nothing_is_stored(client: TestClient, db: Database) -> None:
    ada = person()
    onboard(client, ada)
    files = [("attachments", (f"{n}.png", _flat_png(6300), "image/png")) for n in range(5)]
    response = client.post(
        "/v1/support/tickets", data={"subject": "help", "message": "see attached"}, files=files, headers=ada.headers
    )
    assert response.status_code == 422, response.text
    with db.transaction() as conn:
        assert conn.execute("select 1 from support_tickets where user_id = %s", (ada.id,)).fetchone() is None


def test_a_large_photo_is_accepted_and_stored_at_the_size_generation_needs(client: TestClient) -> None:
    ada = person()
    onboard(client, ada)
    out = io.BytesIO()
    Image.effect_noise((256, 192), 40).convert("RGB").resize((4000, 3000)).save(out, "JPEG", quality=85)
    response = _upload(client, ada, out.getvalue())
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (2048, 1536)


# --- 12. Text no field can store, on anonymous routes -------------------------------------------------------
# Each was a 500 (psycopg cannot encode a lone surrogate; Postgres refuses NUL): now 422 with a stable code.


def _raw_post(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    raw = json.dumps(body).encode()  # ASCII with \u escapes: NUL and lone surrogates travel as JSON allows
    return client.post(path, content=raw, headers={**(headers or {}), "Content-Type": "application/json"})


def _gallery_item(client: TestClient) -> str:
    from shared.media import service as media_service

    owner = person()
    onboard(client, owner)
    app: Any = client.app
    with app.state.db.transaction() as conn:
        item = media_service.store_output(
            conn, app.state.storage, user_id=owner.id, job_id=None, data=images.plain("PNG", (16, 12)),
            content_type="image/png", width=16, height=12, task="text_to_image", model="flux-schnell", prompt="sea",
        )  # fmt: skip
    assert client.patch(f"/v1/media/{item.id}", json={"public": True}, headers=owner.headers).status_code == 200
    return str(item.id)


def test_a_report_whose_details_hold_nul_is_422(client: TestClient, db: Database) -> None:
    media_id = _gallery_item(client)
    response = _raw_post(client, f"/v1/gallery/{media_id}/report", {"reason": "spam", "details": "a\u0000b"})
    assert (response.status_code, _code(response)) == (422, "invalid_request"), response.text
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from gallery_reports").fetchone() == {"n": 0}
    fine = _raw_post(client, f"/v1/gallery/{media_id}/report", {"reason": "spam", "details": "line one\n\tline two"})
    assert fine.status_code == 202, fine.text  # multi-line text keeps its tabs and line breaks


@pytest.mark.parametrize(
    ("field", "code"), [("email", "invalid_contact_email"), ("name", "invalid_contact_name")], ids=["email", "name"]
)
@pytest.mark.parametrize("bad", ["\ud800", chr(0xDFFF), "\u0000", "\n"], ids=["high", "low", "nul", "newline"])
def test_the_contact_form_refuses_a_lone_surrogate_in_name_or_email_with_its_own_code(
    client: TestClient, db: Database, field: str, code: str, bad: str
) -> None:
    body = {"email": "ada@example.com", "name": "Ada", "topic": "general", "message": "hello"}
    body[field] = f"ada{bad}@example.com" if field == "email" else f"Ada{bad}"
    response = _raw_post(client, "/v1/contact", body)
    assert (response.status_code, _code(response)) == (422, code), response.text
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from support_tickets").fetchone() == {"n": 0}


def test_a_consent_category_key_with_a_lone_surrogate_is_422(client: TestClient, db: Database) -> None:
    version = client.get("/v1/policies/current").json()["version"]
    body = {"device_id": "device-0123456789", "categories": {"\ud800": True}, "notice_version": version}
    response = _raw_post(client, "/v1/consents", body)
    assert (response.status_code, _code(response)) == (422, "unknown_consent_category"), response.text
    assert "\\ud800" not in response.text  # the key is not echoed back raw
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from consent_events").fetchone() == {"n": 0}


@pytest.mark.parametrize(
    ("bad", "code"),
    # pydantic's JSON parser refuses a lone surrogate in this body before any field rule runs: still a clean 422.
    [("\ud800", "invalid_request"), ("\u0000", "invalid_email"), ("\t", "invalid_email")],
    ids=["surrogate", "nul", "tab"],
)
def test_the_dev_sign_in_email_refuses_unstorable_text(client: TestClient, bad: str, code: str) -> None:
    response = _raw_post(client, "/v1/dev/sign-in", {"email": f"ada{bad}@example.com"})
    assert (response.status_code, _code(response)) == (422, code), response.text


def _strings(annotation: Any, where: str, metadata: tuple[Any, ...] = ()) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Every string a request model holds (fields, dict keys, list items), with the metadata that constrains it."""
    import typing

    from pydantic import BaseModel

    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        yield from _strings(inner, where, (*metadata, *extra))
    elif annotation is str:
        yield where, metadata
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            yield from _strings(field.annotation, f"{where}.{name}", tuple(field.metadata))
    elif origin is dict:
        key, value = typing.get_args(annotation)
        yield from _strings(key, f"{where}[key]")
        yield from _strings(value, f"{where}[value]")
    else:
        for arg in typing.get_args(annotation):
            yield from _strings(arg, f"{where}[]" if origin in (list, tuple, set) else where, metadata)


def _request_strings(app: Any) -> list[tuple[str, str, str, tuple[Any, ...]]]:
    from fastapi.routing import iter_route_contexts

    found = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        for param in dependant.body_params:
            annotation = param.field_info.annotation
            if param.field_info.metadata:
                annotation = typing_annotated(annotation, *param.field_info.metadata)
            for method in sorted(route.methods or ()):
                for where, metadata in _strings(annotation, param.name):
                    found.append((method, str(route.path), where, metadata))
    return found


def typing_annotated(annotation: Any, *metadata: Any) -> Any:
    from typing import Annotated

    return Annotated[(annotation, *metadata)]


def test_every_string_a_request_may_store_follows_the_stored_text_rule(client: TestClient) -> None:
    from functions.api.fields import is_storable_check

    strings = _request_strings(client.app)
    assert len(strings) > 20  # the sweep sees the request models (JSON bodies and forms)
    unchecked = [
        f"{method} {path} {where}"
        for method, path, where, metadata in strings
        if not any(is_storable_check(item) for item in metadata)
    ]
    assert unchecked == []


@pytest.mark.parametrize("bad", ["a\u0000b", "a\ud800b"], ids=["nul", "surrogate"])
def test_unstorable_text_in_any_json_string_field_is_never_a_500(client: TestClient, bad: str) -> None:
    """Each string of each JSON request model, set to the bad text in an otherwise empty body: never a 5xx."""
    ada = person()
    onboard(client, ada)
    answers = []
    for method, path, where, _ in _request_strings(client.app):
        if method not in ("POST", "PUT", "PATCH") or where.count(".") != 1 or "[" in where:
            continue
        url = path.replace("{media_id}", str(uuid.uuid4())).replace("{ticket_id}", str(uuid.uuid4()))
        raw = json.dumps({where.split(".")[1]: bad}).encode()
        response = client.request(method, url, content=raw, headers={**ada.headers, "Content-Type": "application/json"})
        answers.append((method, path, where, response.status_code))
    assert answers
    assert [answer for answer in answers if answer[3] >= 500] == []


# --- 31.9 One client-address rule -------------------------------------------------------------------------------
# ATELIER_TRUSTED_PROXY_HOPS decided the address rate limits counted, ATELIER_TRUSTED_PROXIES the one the security log
# and consent records kept: behind a listed proxy every client shared the proxy's budget while the log named each
# client; with a hop count any peer chose the address it was counted under while the log named the peer.


def _security_log_ips(db: Database) -> list[str]:
    with db.transaction() as conn:
        return [row["ip"] for row in conn.execute("select host(ip) as ip from security_log order by id").fetchall()]


def test_behind_a_listed_proxy_budgets_and_the_security_log_name_the_same_client(tmp_path: Path, db: Database) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        supabase_jwt_secret=HS256_SECRET,
        trusted_proxies="10.0.0.0/8",
        rate_limit_overrides="account.ip=2/60",
    )
    app = create_app(settings, db)
    ada, bob = person(), person()
    with TestClient(app, client=("10.1.2.3", 51000)) as proxy:
        via = {"X-Forwarded-For": "198.51.100.7, 10.9.9.9"}
        assert [proxy.get("/v1/me", headers={**ada.headers, **via}).status_code for _ in range(2)] == [200, 200]
        assert proxy.get("/v1/me", headers={**ada.headers, **via}).status_code == 429  # her own budget is spent
        bob_via = {"X-Forwarded-For": "198.51.100.8"}
        assert proxy.get("/v1/me", headers={**bob.headers, **bob_via}).status_code == 200  # not the proxy's budget
    with TestClient(app, client=("203.0.113.5", 51000)) as direct:  # not a proxy: its header is not believed
        codes = [
            direct.get("/v1/me", headers={**ada.headers, "X-Forwarded-For": f"192.0.2.{n}"}).status_code
            for n in range(3)
        ]
        assert codes == [200, 200, 429]
    assert _security_log_ips(db) == ["198.51.100.7", "198.51.100.7", "198.51.100.8", "203.0.113.5", "203.0.113.5"]


def test_with_the_deprecated_hop_count_the_log_names_whom_the_budget_counted(tmp_path: Path, db: Database) -> None:
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, trusted_proxy_hops=1)
    ada = person()
    with TestClient(create_app(settings, db), client=("203.0.113.5", 51000)) as client:
        assert client.get("/v1/me", headers={**ada.headers, "X-Forwarded-For": "192.0.2.1"}).status_code == 200
    assert _security_log_ips(db) == ["192.0.2.1"]  # was the peer, while the rate limit counted 192.0.2.1


@pytest.mark.parametrize(("proxies", "hops"), [("*", 0), ("0.0.0.0/0", 0), ("::/0", 0), ("", 1), ("10.0.0.0/8, *", 0)])
def test_production_refuses_a_rule_that_believes_every_peer(
    monkeypatch: pytest.MonkeyPatch, proxies: str, hops: int
) -> None:
    from pydantic import ValidationError

    from tests.support.production import set_mail_env

    monkeypatch.setenv("ATELIER_ENV", "production")
    set_mail_env(monkeypatch)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example/postgres")
    monkeypatch.setenv("SUPABASE_URL", "https://proj.supabase.co")
    monkeypatch.setenv("SUPABASE_SECRET_KEY", "sb_secret_real")
    monkeypatch.setenv("ATELIER_TRUSTED_PROXIES", proxies)
    monkeypatch.setenv("ATELIER_TRUSTED_PROXY_HOPS", str(hops))
    with pytest.raises(ValidationError, match="trusts every peer"):
        Settings()
    monkeypatch.setenv("ATELIER_TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("ATELIER_TRUSTED_PROXY_HOPS", "0")
    assert Settings().trusted_proxies == ["10.0.0.0/8"]  # naming the proxies is fine


def test_both_client_address_settings_at_once_or_a_garbled_proxy_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("ATELIER_TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("ATELIER_TRUSTED_PROXY_HOPS", "1")
    with pytest.raises(ValidationError, match="both set"):
        Settings()
    monkeypatch.delenv("ATELIER_TRUSTED_PROXY_HOPS")
    monkeypatch.setenv("ATELIER_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example")
    with pytest.raises(ValidationError, match=r"proxy\.example"):
        Settings()


# --- 31.8 Docs and images from elsewhere --------------------------------------------------------------------------
# /docs loaded Swagger UI from a CDN with a floating `@5` version and no integrity check, in production too (on the
# API's origin) and locally on the web app's origin: whoever controlled that CDN path ran script there.


def _production_settings(tmp_path: Path) -> Settings:
    from tests.support.production import MAIL_SETTINGS

    return Settings(
        data_dir=tmp_path,
        environment="production",
        database_url="postgresql://db.example/postgres",
        supabase_url="https://proj.supabase.co",
        supabase_secret_key="sb_secret_real_value",
        supabase_jwt_secret=HS256_SECRET,
        **MAIL_SETTINGS,
    )


def test_production_serves_no_interactive_docs_but_still_its_openapi(tmp_path: Path, db: Database) -> None:
    with TestClient(create_app(_production_settings(tmp_path), db)) as production:
        assert production.get("/docs").status_code == 404
        assert production.get("/openapi.json").status_code == 200


def test_local_docs_load_one_pinned_swagger_ui_with_integrity_and_a_strict_policy(client: TestClient) -> None:
    import re

    page = client.get("/docs")
    assert page.status_code == 200
    external = re.findall(r'<(?:script|link)[^>]*(?:src|href)="(https://[^"]+)"[^>]*>', page.text)
    assert external  # Swagger UI still comes from the CDN, but...
    for tag in re.findall(r"<(?:script|link)[^>]*https://[^>]*>", page.text):
        assert re.search(r'integrity="sha384-[A-Za-z0-9+/=]{64}"', tag), tag  # ...only the file we hashed
        assert 'crossorigin="anonymous"' in tag
    for url in external:
        assert re.search(r"@\d+\.\d+\.\d+/", url), url  # a pinned version, never "@5"
    csp = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert "https:" not in csp["script-src"].split()
    assert "'unsafe-inline'" not in csp["script-src"]


# --- 31. Decide and document: signed tokens that show too much or live too long -------------------------------------
# A local file link (`/v1/files/{token}`) carried its object key in base64, and the key names the owner's account
# (`users/{user_id}/...`); a token's `exp` could claim any future (file links and access tokens alike).


def _decodings(token: str) -> str:
    """Everything a reader could get out of a token's parts by base64-decoding them."""
    found = [token]
    for part in token.replace(".", " ").split():
        with contextlib.suppress(ValueError):
            found.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("latin-1"))
    return "\n".join(found)


def test_a_local_file_link_does_not_show_whose_file_it_is(client: TestClient) -> None:
    ada = person()
    onboard(client, ada)
    uploaded = client.post("/v1/uploads", headers=ada.headers, files={"file": ("a.png", _png(), "image/png")})
    assert uploaded.status_code == 201, uploaded.text
    url = client.get("/v1/media", headers=ada.headers).json()["items"][0]["url"]
    token = url.rsplit("/", 1)[-1]
    readable = _decodings(token)
    assert str(ada.id) not in readable
    assert ada.id.hex not in readable
    assert "users/" not in readable
    assert client.get(url).status_code == 200  # and the link still serves the file


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 30, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_file_link_claiming_a_longer_life_than_any_link_is_refused(tmp_path: Path) -> None:
    from shared.media.storage import FILES_PATH, LocalStorage, SignedUrlExpired, SignedUrlInvalid

    key = f"users/{uuid.uuid4()}/uploads/a.png"
    signing_key = b"k" * 32
    served = LocalStorage(tmp_path / "storage", signing_key=signing_key, signed_url_seconds=3600)
    # Asking for ten years gives at most the cap...
    capped = served.signed_url(key, seconds=10 * 365 * 24 * 3600)[len(FILES_PATH) :]
    assert served.verify_token(capped, now=time.time() + 3500) == key
    with pytest.raises(SignedUrlExpired):
        served.verify_token(capped, now=time.time() + 3700)
    # ...and a token sealed with the same key that claims ten years (a leaked key, an old build) is refused.
    lax = LocalStorage(tmp_path / "storage", signing_key=signing_key, max_link_seconds=10 * 365 * 24 * 3600)
    forged = lax.signed_url(key, seconds=10 * 365 * 24 * 3600)[len(FILES_PATH) :]
    assert lax.verify_token(forged) == key
    with pytest.raises(SignedUrlInvalid):
        served.verify_token(forged)


def test_a_signed_access_token_claiming_years_of_life_is_401(client: TestClient) -> None:
    ten_years = int(time.time()) + 10 * 365 * 24 * 3600
    response = client.get("/v1/me", headers=bearer(hs256(exp=ten_years)))
    assert response.status_code == 401, response.text
    assert _code(response) == "invalid_token"
    week = int(time.time()) + 7 * 24 * 3600 - 60
    assert client.get("/v1/me", headers=bearer(hs256(exp=week))).status_code == 200  # Supabase's longest still works


def test_local_development_tokens_are_never_minted_for_longer_than_a_week(tmp_path: Path) -> None:
    from shared.auth import issue_dev_token

    with pytest.raises(ValueError, match="at most"):
        issue_dev_token(Settings(data_dir=tmp_path), "ada@example.com", hours=24 * 365)


# --- 31.8 The session cookie that replaced tokens in localStorage ------------------------------------------------
# Tokens in localStorage were readable by any script on the page's origin. The refresh (locally: development) token
# is now an HttpOnly cookie of the page's origin, used only by same-origin JSON requests to /auth/*.


def test_the_session_cookie_is_http_only_and_a_cross_site_page_cannot_use_it(tmp_path: Path, db: Database) -> None:
    from functions.static_site import build_site

    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET)
    app = create_app(settings, db)
    app.mount("/", build_site(settings))
    with TestClient(app, client=("127.0.0.1", 51000), base_url="http://127.0.0.1") as page:
        dev = page.post("/v1/dev/sign-in", json={"email": "ada@example.com"}).json()["access_token"]
        kept = page.post("/auth/session", json={"access_token": dev})
        assert kept.status_code == 200
        cookie = kept.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Path=/auth" in cookie
        assert page.post("/auth/refresh", json={}).json()["access_token"] == dev  # a reload stays signed in
        cross_site = [
            {"Origin": "https://evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Content-Type": "text/plain"},  # what a cross-site form or no-preflight fetch can send
        ]
        for headers in cross_site:
            refused = page.post("/auth/refresh", content=b"{}", headers={"Content-Type": "application/json", **headers})
            assert refused.status_code == 403, headers
            assert refused.json()["error"]["code"] == "cross_site_refused"
            assert "access_token" not in refused.text
        assert page.post("/auth/sign-out", json={}).status_code == 200
        assert page.post("/auth/refresh", json={}).status_code == 401
        stale = page.post("/auth/session", json={"access_token": hs256(exp=int(time.time()) - 10)})
        assert stale.status_code == 422
