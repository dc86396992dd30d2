"""Data exports end to end: a seeded user's archive holds every mapped row and every stored image byte for byte;
links expire and are refused; archives are deleted after expiry; concurrent and crashed builds build once."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from psycopg import sql

from config.settings import Settings
from shared.accounts.auth_admin import SupabaseAuthAdmin
from shared.credits import service as credits
from shared.kit.db import Database
from shared.media import service as media
from shared.media.storage import FILES_PATH, LocalStorage, SignedUrlExpired, StorageUnavailable, SupabaseStorage
from shared.privacy import erasure, exports, requests
from shared.privacy.archive import DataMap, category_file, write_archive
from shared.privacy.datamap import STORAGE, TABLES, Category, Erasure, LegalBasis, StorageEntry, TableEntry
from tests.support import images
from tests.support.jobs import job_row
from tests.support.media_app import MediaApp, User, media_app, user
from tests.support.tokens import HS256_SECRET


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return _settings(tmp_path, export_inline=False)  # the task builds, unless a test says otherwise


@pytest.fixture(params=["local", "supabase"])
def any_backend(request: pytest.FixtureRequest, settings: Settings, db: Database) -> Iterator[MediaApp]:
    with media_app(settings, db, request.param) as app:
        yield app


@pytest.fixture
def local(settings: Settings, db: Database) -> Iterator[MediaApp]:
    with media_app(settings, db, "local") as app:
        yield app


def _onboard(app: MediaApp, who: User) -> None:
    version = app.client.get("/v1/policies/current").json()["version"]
    body = {"age_confirmed": True, "accepted_policy_version": version}
    assert app.client.post("/v1/me/onboarding", json=body, headers=who.headers).status_code == 200


def _seed(app: MediaApp, who: User) -> None:
    """Uploads, an output, credits (the signup grant), consents, device data, a support ticket, a payment."""
    _onboard(app, who)
    for n, fmt in enumerate(("JPEG", "PNG")):
        upload = app.client.post(
            "/v1/uploads", files={"file": (f"in{n}", images.photo(fmt), f"image/{fmt.lower()}")}, headers=who.headers
        )
        assert upload.status_code == 201, upload.text
    with app.db.transaction() as conn:
        media.store_output(
            conn, app.storage, user_id=who.id, job_id=job_row(conn, who.id), data=images.noise_png(32, 32),
            content_type="image/png", width=32, height=32, task="text-to-image", model="flux-schnell",
            prompt="a fox in the snow",
        )  # fmt: skip
    device = f"dev-{uuid.uuid4().hex}"
    consent = {"device_id": device, "categories": {"analytics": True, "marketing": False}, "notice_version": 1}
    assert app.client.post("/v1/consents", json=consent, headers=who.headers).status_code < 300
    ticket = app.client.post(
        "/v1/support/tickets",
        data={"subject": "Where is my image?", "message": "It vanished"},
        files=[("attachments", ("a.png", images.plain("PNG"), "image/png"))],
        headers=who.headers,
    )
    assert ticket.status_code == 201, ticket.text
    with app.db.transaction() as conn:
        conn.execute(
            """insert into billing_orders (polar_order_id, user_id, customer_ref, billing_reason, status, currency,
                   net_amount, tax_amount, total_amount, grant_state, ordered_at)
               values (%s, %s, 'ref', 'purchase', 'paid', 'eur', 500, 100, 600, 'none', now())""",
            (f"order-{uuid.uuid4().hex}", who.id),
        )
        conn.execute(  # external_customer_id is text: the export must find it by the id's text form too
            """insert into billing_webhook_inbox (webhook_id, event_type, payload, external_customer_id, signed_at,
                   status, processed_at)
               values (%s, 'order.paid', '{"data": {}}', %s, now(), 'processed', now())""",
            (f"wh-{uuid.uuid4().hex}", str(who.id)),
        )


def _count(app: MediaApp, entry: TableEntry, user_id: uuid.UUID) -> int:
    assert entry.subject_column is not None
    query = sql.SQL("select count(*) as n from {} where {}::text = %s").format(
        sql.Identifier(entry.table), sql.Identifier(entry.subject_column)
    )
    with app.db.transaction() as conn:
        row = conn.execute(query, (str(user_id),)).fetchone()
    assert row is not None
    return int(row["n"])


def _download(app: MediaApp, url: str) -> bytes:
    fetched = app.fetch(url)
    assert fetched.status_code == 200, fetched.status_code
    return fetched.content


def _request(app: MediaApp, who: User) -> str:
    response = app.client.post("/v1/me/exports", headers=who.headers)
    assert response.status_code == 202, response.text
    assert set(response.json()) == {"id", "status"}
    return str(response.json()["id"])


def _build(app: MediaApp, settings: Settings, now: datetime | None = None) -> int:
    return exports.build_exports(app.db, app.storage, now=now or datetime.now(UTC), days=settings.export_days)


def test_a_seeded_users_export_holds_every_mapped_row_and_every_image_byte_for_byte(
    any_backend: MediaApp, settings: Settings
) -> None:
    app = any_backend
    ada, bob = user("ada@example.com"), user("bob@example.com")
    _seed(app, ada)
    _seed(app, bob)
    export_id = _request(app, ada)
    assert app.client.get(f"/v1/me/exports/{export_id}", headers=ada.headers).json()["status"] == "pending"
    assert _build(app, settings) == 1
    # What the database held when the archive was built (each request below adds a security-log row).
    expected = {e.table: _count(app, e, ada.id) for e in TABLES if e.subject_column is not None}
    expected["email_outbox"] -= 1  # but the "export ready" mail, queued once the archive was complete
    expected["notifications"] -= 1  # and its in-app notice, posted with it

    state = app.client.get(f"/v1/me/exports/{export_id}", headers=ada.headers).json()
    assert state["status"] == "ready"
    expires = datetime.fromisoformat(state["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    fetched = app.fetch(state["url"])
    assert fetched.status_code == 200, fetched.status_code
    # Saved as a dated ZIP, not as the link's token (a browser ignores <a download> across origins).
    requested = datetime.fromisoformat(state["requested_at"]).date().isoformat()
    # Saved as a file with the day's name: the local file route quotes it, Supabase Storage sends its own form.
    assert fetched.disposition is not None
    assert fetched.disposition.startswith("attachment;")
    assert re.search(rf'filename="?atelier-export-{requested}\.zip"?(;|$)', fetched.disposition), fetched.disposition
    raw = fetched.content
    archive = zipfile.ZipFile(io.BytesIO(raw))
    names = set(archive.namelist())

    # One JSON file per category, each table with exactly the user's rows.
    exported: dict[str, list[dict[str, Any]]] = {}
    for category in Category:
        document = json.loads(archive.read(category_file(category)))
        assert (document["schema_version"], document["category"]) == (1, category.value)
        for table, content in document["tables"].items():
            assert content["purpose"]
            assert content["legal_basis"]
            exported[table] = content["rows"]
    assert {table: len(exported[table]) for table in expected} == expected
    categories_with_rows = {e.category for e in TABLES if exported.get(e.table)}
    assert categories_with_rows == set(Category)  # the seed touches every category, and every one came out

    # Nothing of anyone else.
    text = b"".join(archive.read(name) for name in names)
    assert str(bob.id).encode() not in text
    assert b"bob@example.com" not in text
    assert exported["accounts"][0]["email"] == "ada@example.com"

    # Every stored image, byte for byte, and matching what its row says.
    stored = [k for k in app.storage.list(f"users/{ada.id}/") if "/exports/" not in k]
    assert len(stored) == 7  # two uploads, one output, one support attachment, and a thumbnail of each image
    rows_by_key = {r["storage_key"]: r for r in exported["media"] + exported["support_attachments"]}
    thumbnails = {r["thumbnail_key"] for r in exported["media"]} - {None}
    assert len(thumbnails) == 3
    for key in stored:
        member = archive.read(f"files/{key.removeprefix(f'users/{ada.id}/')}")
        assert hashlib.sha256(member).hexdigest() == hashlib.sha256(app.storage.get(key)).hexdigest()
        if key not in thumbnails:
            assert hashlib.sha256(member).hexdigest() == rows_by_key[key]["sha256"]
    assert not [n for n in names if n.startswith("files/exports")]

    readme = archive.read("README.txt").decode()
    for needed in ("Supabase", "Modal", "Polar", "legal basis", "Erasure", "one month", "kept:"):
        assert needed in readme
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["schema_version"] == 1
    assert manifest["account_id"] == str(ada.id)
    assert manifest["rows"]["media"] == 3

    with app.db.transaction() as conn:
        row = conn.execute("select bytes, sha256 from exports where id = %s", (export_id,)).fetchone()
    assert row == {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


def test_another_users_export_is_not_found_and_requests_are_idempotent_while_open(
    local: MediaApp, settings: Settings
) -> None:
    ada, bob = user("ada@example.com"), user("bob@example.com")
    first = _request(local, ada)
    assert _request(local, ada) == first  # still pending: the same request
    assert local.client.get(f"/v1/me/exports/{first}", headers=bob.headers).status_code == 404
    assert local.client.get(f"/v1/me/exports/{uuid.uuid4()}", headers=ada.headers).status_code == 404
    _build(local, settings)
    assert local.client.get(f"/v1/me/exports/{first}", headers=bob.headers).status_code == 404
    second = _request(local, ada)
    assert second != first  # the first is finished, so this is a new request
    assert local.client.post("/v1/me/exports", headers=ada.headers).status_code == 429  # 3 a day


def test_the_api_starts_the_build_at_once_when_inline(tmp_path: Path, db: Database) -> None:
    with media_app(_settings(tmp_path, export_inline=True), db, "local") as app:
        ada = user("ada@example.com")
        export_id = _request(app, ada)
        state = app.client.get(f"/v1/me/exports/{export_id}", headers=ada.headers).json()
        assert state["status"] == "ready"
        assert zipfile.ZipFile(io.BytesIO(_download(app, state["url"]))).testzip() is None


def test_links_expire_with_the_export_and_the_archive_is_deleted_after_expiry(
    any_backend: MediaApp, settings: Settings
) -> None:
    app = any_backend
    ada = user("ada@example.com")
    _onboard(app, ada)
    export_id = _request(app, ada)
    now = datetime.now(UTC)
    built_at = now - timedelta(days=7) + timedelta(minutes=5)  # five minutes of the link's life are left
    assert _build(app, settings, built_at) == 1
    state = app.client.get(f"/v1/me/exports/{export_id}", headers=ada.headers).json()
    url, key = state["url"], _key_of(app, export_id)
    assert datetime.fromisoformat(state["expires_at"]) == built_at + timedelta(days=7)
    if isinstance(app.storage, LocalStorage):  # the link itself dies with the export, not a week later
        token = urlsplit(url).path.removeprefix(FILES_PATH)
        assert app.storage.verify_token(token, now=now.timestamp()) == key
        with pytest.raises(SignedUrlExpired):
            app.storage.verify_token(token, now=(now + timedelta(minutes=6)).timestamp())

    # One day before expiry nothing is touched; just after, the object goes and the row says expired.
    expires_at = built_at + timedelta(days=7)
    assert exports.expire_exports(app.db, app.storage, now=expires_at - timedelta(days=1)) == 0
    assert app.storage.exists(key)
    assert exports.expire_exports(app.db, app.storage, now=expires_at + timedelta(seconds=1)) == 1
    assert not app.storage.exists(key)
    assert app.storage.list(f"users/{ada.id}/exports/") == []
    assert app.fetch(url).status_code in (400, 403, 404)  # a link handed out before is refused
    state = app.client.get(f"/v1/me/exports/{export_id}", headers=ada.headers).json()
    assert state == {"id": export_id, "status": "expired", "requested_at": state["requested_at"]}
    assert exports.expire_exports(app.db, app.storage, now=expires_at + timedelta(days=1)) == 0


def test_an_export_past_expiry_shows_no_link_before_the_task_runs(local: MediaApp, settings: Settings) -> None:
    ada = user("ada@example.com")
    export_id = _request(local, ada)
    _build(local, settings, datetime.now(UTC) - timedelta(days=8))
    state = local.client.get(f"/v1/me/exports/{export_id}", headers=ada.headers).json()
    assert state["status"] == "expired"
    assert "url" not in state


def _key_of(app: MediaApp, export_id: str) -> str:
    with app.db.transaction() as conn:
        row = conn.execute("select storage_key from exports where id = %s", (export_id,)).fetchone()
    assert row is not None
    return str(row["storage_key"])


def _status(app: MediaApp, export_id: str) -> dict[str, Any]:
    with app.db.transaction() as conn:
        row = conn.execute("select status, attempts, storage_key, error from exports where id = %s", (export_id,))
        found = row.fetchone()
    assert found is not None
    return found


def test_two_concurrent_build_runs_build_once(local: MediaApp, settings: Settings) -> None:
    ada = user("ada@example.com")
    _onboard(local, ada)
    export_id = _request(local, ada)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def run() -> None:
        barrier.wait()
        results.append(_build(local, settings))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]
    assert _status(local, export_id)["attempts"] == 1
    assert local.storage.list(f"users/{ada.id}/exports/") == [_key_of(local, export_id)]
    notices = local.client.get("/v1/me/notifications", headers=ada.headers).json()["items"]
    assert [n["kind"] for n in notices] == ["export_ready"]  # one notice in the app, by the build that won


def test_a_crashed_build_is_rebuilt_after_its_lease_and_the_late_builder_loses(
    local: MediaApp, settings: Settings
) -> None:
    ada = user("ada@example.com")
    export_id = _request(local, ada)
    now = datetime.now(UTC)
    with local.db.transaction() as conn:  # a builder claims it and dies (never finishes)
        dead = exports.claim_next(conn, now, None, [])
    assert dead is not None
    assert str(dead.id) == export_id
    assert _build(local, settings, now + timedelta(minutes=1)) == 0  # its lease still holds
    later = now + exports.BUILD_LEASE + timedelta(seconds=1)
    assert _build(local, settings, later) == 1
    assert _status(local, export_id) | {"storage_key": None} == {
        "status": "ready", "attempts": 2, "storage_key": None, "error": None,
    }  # fmt: skip
    winner = _key_of(local, export_id)
    assert winner.endswith("-2.zip")
    # The first builder wakes up and finishes: it may not overwrite the winner or leave its copy behind.
    assert exports.build_one(local.db, local.storage, dead, now=later, days=7) is False
    assert local.storage.list(f"users/{ada.id}/exports/") == [winner]
    assert _status(local, export_id)["status"] == "ready"
    # Had it uploaded and then died for good, its copy would wait for the expiry, which removes every attempt.
    local.storage.put(exports.archive_key(ada.id, dead.id, 1), b"an orphaned attempt", "application/zip")
    assert exports.expire_exports(local.db, local.storage, now=later + timedelta(days=8)) == 1
    assert local.storage.list(f"users/{ada.id}/exports/") == []


def test_a_build_that_keeps_failing_is_retried_then_failed(tmp_path: Path, db: Database, settings: Settings) -> None:
    with media_app(settings, db, "local") as app:
        ada = user("ada@example.com")
        export_id = _request(app, ada)
    unreachable = SupabaseStorage("http://127.0.0.1:9", "sb_secret_x", "atelier", timeout=1.0)
    now = datetime.now(UTC)
    for attempt, status in ((1, "pending"), (2, "pending"), (3, "failed")):
        with pytest.raises(StorageUnavailable):
            exports.build_exports(db, unreachable, now=now, days=7)
        assert _status(app, export_id) == {
            "status": status, "attempts": attempt, "storage_key": None, "error": "StorageUnavailable",
        }  # fmt: skip
    assert exports.build_exports(db, unreachable, now=now, days=7) == 0  # failed is final; the user asks again
    unreachable.close()


def test_a_table_and_a_prefix_added_to_the_data_map_are_exported_without_code_changes(
    local: MediaApp, tmp_path: Path
) -> None:
    ada, bob = user("ada@example.com"), user("bob@example.com")
    _onboard(local, ada)
    _onboard(local, bob)
    with local.db.transaction() as conn:
        conn.execute(
            """create table scratch_moodboards (id serial primary key,
                   owner uuid not null references accounts (id), title text, pinned_at timestamptz default now())"""
        )
        conn.execute(
            "insert into scratch_moodboards (owner, title) values (%s, 'foxes'), (%s, 'owls'), (%s, 'bob''s')",
            (ada.id, ada.id, bob.id),
        )
    local.storage.put(f"users/{ada.id}/moodboards/board.png", images.plain("PNG"), "image/png")
    extended = DataMap(
        tables=(
            *TABLES,
            TableEntry(
                "scratch_moodboards",
                "owner",
                Category.MEDIA,
                "collect images",
                LegalBasis.CONTRACT,
                "relationship",
                Erasure.DELETE,
                ("title",),
            ),
        ),
        storage=(*STORAGE, StorageEntry("users/{user_id}/moodboards/", Category.MEDIA, "boards", "relationship")),
    )
    path = tmp_path / "x.zip"
    stats = write_archive(local.db, local.storage, ada.id, path, generated_at=datetime.now(UTC), data_map=extended)
    archive = zipfile.ZipFile(path)
    rows = json.loads(archive.read(category_file(Category.MEDIA)))["tables"]["scratch_moodboards"]["rows"]
    assert sorted(r["title"] for r in rows) == ["foxes", "owls"]
    assert archive.read("files/moodboards/board.png") == images.plain("PNG")
    assert stats.rows["scratch_moodboards"] == 2
    assert "scratch_moodboards" in archive.read("README.txt").decode()
    # And the real map, which lacks the entry, leaves it out: the map is what drives the export.
    plain = write_archive(local.db, local.storage, ada.id, tmp_path / "y.zip", generated_at=datetime.now(UTC))
    assert "scratch_moodboards" not in plain.rows


def test_columns_the_database_derives_are_left_out(local: MediaApp, tmp_path: Path) -> None:
    """A stored generated column (credit_grant_state.live = remaining > 0, kept for an index) is the database's
    bookkeeping, not the person's data: its row's own columns, which the export carries, are what it is made from."""
    ada = user("ada@example.com")
    _onboard(local, ada)
    with local.db.transaction() as conn:
        credits.grant(conn, user_id=ada.id, amount=5, kind="purchase", source_ref="order-derived", expires_at=None)
        conn.execute(
            """create table scratch_boards (id serial primary key, owner uuid not null references accounts (id),
                   title text not null, title_length integer generated always as (length(title)) stored)"""
        )
        conn.execute("insert into scratch_boards (owner, title) values (%s, 'foxes')", (ada.id,))
        derived = {
            (row["tbl"], row["col"])
            for row in conn.execute(
                """select c.relname as tbl, a.attname as col from pg_attribute a join pg_class c on c.oid = a.attrelid
                    where c.relnamespace = 'public'::regnamespace and a.attgenerated <> '' and a.attnum > 0"""
            ).fetchall()
        }
    assert ("credit_grant_state", "live") in derived
    entry = TableEntry(
        "scratch_boards", "owner", Category.MEDIA, "boards", LegalBasis.CONTRACT, "relationship", Erasure.DELETE
    )
    path = tmp_path / "x.zip"
    write_archive(
        local.db, local.storage, ada.id, path, generated_at=datetime.now(UTC), data_map=DataMap(tables=(*TABLES, entry))
    )
    archive = zipfile.ZipFile(path)
    exported = {
        table: content["rows"]
        for category in Category
        for table, content in json.loads(archive.read(category_file(category)))["tables"].items()
    }
    assert [row["remaining"] for row in exported["credit_grant_state"] if row["amount"] == 5] == [5]
    assert [row["title"] for row in exported["scratch_boards"]] == ["foxes"]
    leaked = sorted({(table, column) for table, rows in exported.items() for row in rows for column in row} & derived)
    assert not leaked, f"derived columns in the export: {leaked}"


def test_each_export_is_a_rights_request_due_in_a_month_and_completed_when_ready(
    local: MediaApp, settings: Settings
) -> None:
    ada = user("ada@example.com")
    export_id = _request(local, ada)
    assert _request(local, ada) == export_id  # the repeated ask is the same request, not a second one
    with local.db.transaction() as conn:
        registered = requests.list_requests(conn, now=datetime.now(UTC), user_id=ada.id)
    assert [(r.kind, r.status) for r in registered] == [("export", "open")]
    received = registered[0].received_at
    assert registered[0].due_at - received in (timedelta(days=d) for d in (28, 29, 30, 31))
    built_at = received + timedelta(hours=1)
    assert _build(local, settings, built_at) == 1
    with local.db.transaction() as conn:
        done = requests.get_request(conn, registered[0].id)
        linked = conn.execute("select request_id from exports where id = %s", (export_id,)).fetchone()
    assert (done.status, done.completed_at) == ("completed", built_at)
    assert linked == {"request_id": done.id}


def test_an_account_whose_erasure_is_under_way_gets_no_new_export(
    local: MediaApp, settings: Settings, tmp_path: Path
) -> None:
    """Right of access holds through a user's own grace period; once the erasure is an under-13 refusal or has
    started, no export is requested or built for the account (it would outlive the erasure's storage step)."""
    grace, child, started = user("grace@example.com"), user("child@example.com"), user("started@example.com")
    pending = {who.id: _request(local, who) for who in (grace, child, started)}
    now = datetime.now(UTC)
    with local.db.transaction() as conn:  # a retention erasure whose first run failed at storage: under way
        erasure.request_erasure(conn, started.id, now=now, grace_days=0, by="retention")
    down = SupabaseStorage("http://127.0.0.1:9", "sb_secret_x", "atelier", timeout=1.0)
    auth = SupabaseAuthAdmin(_settings(tmp_path, supabase_url="http://127.0.0.1:9", supabase_secret_key="sb_x"))
    assert erasure.run_erasures(local.db, erasure.Processors(storage=down, auth=auth), now=now) == 0
    down.close()
    with local.db.transaction() as conn:
        erasure.request_erasure(conn, grace.id, now=now, grace_days=7, by="user")
        erasure.request_erasure(conn, child.id, now=now, grace_days=0, by="underage")
        progress = conn.execute("select attempts from account_erasures where user_id = %s", (started.id,)).fetchone()
    assert progress == {"attempts": 1}

    assert local.client.post("/v1/me/exports", headers=grace.headers).status_code == 202
    for who in (child, started):
        refused = local.client.post("/v1/me/exports", headers=who.headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "account_locked"
    assert _build(local, settings) == 1
    ready = local.client.get(f"/v1/me/exports/{pending[grace.id]}", headers=grace.headers).json()
    assert ready["status"] == "ready"
    for who in (child, started):
        assert local.storage.list(f"users/{who.id}/exports/") == []
        with local.db.transaction() as conn:
            row = conn.execute("select status from exports where id = %s", (pending[who.id],)).fetchone()
        assert row is None or row["status"] != "ready"
