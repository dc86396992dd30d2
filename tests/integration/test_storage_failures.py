"""Export, erasure, history, downloads and purges against a Supabase Storage that cannot see its bucket (missing
bucket or wrong key): each fails and retries, never reads an empty answer as "this person has no files", an
object as missing or a delete as done."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest

from config.settings import Settings
from shared.accounts.auth_admin import SupabaseAuthAdmin
from shared.kit.db import Database
from shared.media import service
from shared.media.models import MediaItem
from shared.media.storage import StorageUnavailable, SupabaseStorage
from shared.privacy import erasure, exports
from tests.support import images
from tests.support.accounts import make_account
from tests.support.fake_storage_api import BUCKET, SECRET_KEY, fake_storage_api
from tests.support.jobs import job_row
from tests.support.media_app import MediaApp, media_app
from tests.support.tokens import HS256_SECRET


def test_erasure_with_an_unseen_bucket_fails_its_storage_step_and_retries(tmp_path: Path, db: Database) -> None:
    user_id = make_account(db)
    now = datetime.now(UTC)
    with db.transaction() as conn:
        erasure.request_erasure(conn, user_id, now=now, grace_days=0)
    no_auth = SupabaseAuthAdmin(Settings(data_dir=tmp_path))  # not configured: its step is a no-op
    with fake_storage_api() as api:
        good = SupabaseStorage(api.url, SECRET_KEY, BUCKET)
        good.put(f"users/{user_id}/outputs/a.png", b"x", "image/png")
        blind = SupabaseStorage(api.url, SECRET_KEY, "atelier-typo")
        assert erasure.run_erasures(db, erasure.Processors(storage=blind, auth=no_auth), now=now) == 0
        with db.transaction() as conn:
            progress = erasure.pending(conn, user_id)
            row = conn.execute("select last_error from account_erasures where user_id = %s", (user_id,)).fetchone()
        assert progress is not None
        # storage, and the Auth user that must follow it, wait; the steps that need neither ran (issue 31)
        assert "storage" not in progress.steps_done
        assert "auth_user" not in progress.steps_done
        assert row == {"last_error": "StorageUnavailable"}
        later = now + timedelta(minutes=11)
        assert erasure.run_erasures(db, erasure.Processors(storage=good, auth=no_auth), now=later) == 1
        assert api.keys() == []
        blind.close()
        good.close()


def test_an_export_with_an_unseen_bucket_fails_and_is_retried_not_built_empty(db: Database) -> None:
    user_id = make_account(db)
    now = datetime.now(UTC)
    with db.transaction() as conn:
        export, _ = exports.request_export(conn, user_id, now=now)
    with fake_storage_api() as api:
        good = SupabaseStorage(api.url, SECRET_KEY, BUCKET)
        good.put(f"users/{user_id}/uploads/a.png", b"x", "image/png")
        good.close()
        blind = SupabaseStorage(api.url, "sb_secret_wrong", BUCKET)
        with pytest.raises(StorageUnavailable):
            exports.build_exports(db, blind, now=now, days=7)
        with db.transaction() as conn:
            again = exports.get_owned(conn, user_id, export.id)
        assert again.status != "ready"
        assert again.storage_key is None
        blind.close()


# --- Over HTTP: a bucket the API cannot see is "storage unavailable", never "missing" or "deleted" ----------------
# The real server (supabase/storage v1.11.2) answers a missing bucket or a wrong key with NoSuchKey on single
# signing, per-item errors on batch signing and `[]` on delete (tests/support/fake_storage_api.py): read naively,
# every object looks missing and every delete looks done.

UNSEEN = ("missing_bucket", "wrong_key")


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, **overrides)  # type: ignore[arg-type]


def _output(app: MediaApp, user_id: uuid.UUID) -> MediaItem:
    with app.db.transaction() as conn:
        return service.store_output(
            conn, app.storage, user_id=user_id, job_id=job_row(conn, user_id), data=images.plain("PNG", (24, 16)),
            content_type="image/png", width=24, height=16, task="text-to-image", model="flux-schnell", prompt="fox",
        )  # fmt: skip


@pytest.mark.parametrize("mode", UNSEEN)
def test_history_answers_503_not_links_of_null_when_storage_cannot_see_its_bucket(
    tmp_path: Path, db: Database, mode: Literal["missing_bucket", "wrong_key"]
) -> None:
    with media_app(_settings(tmp_path), db, "supabase") as app:
        assert app.api is not None
        ada = app.member("ada@example.com")
        item = _output(app, ada.id)
        assert app.client.get("/v1/media", headers=ada.headers).json()["items"][0]["url"]
        app.api.mode = mode
        listed = app.client.get("/v1/media", headers=ada.headers)
        assert listed.status_code == 503, listed.text
        assert listed.json()["error"]["code"] == "storage_unavailable"
        one = app.client.get(f"/v1/media/{item.id}", headers=ada.headers)
        assert one.status_code == 503, one.text
        app.api.mode = "ok"
        assert app.client.get("/v1/media", headers=ada.headers).json()["items"][0]["url"]


@pytest.mark.parametrize("mode", UNSEEN)
def test_a_ready_export_is_503_not_404_when_storage_cannot_see_its_bucket(
    tmp_path: Path, db: Database, mode: Literal["missing_bucket", "wrong_key"]
) -> None:
    with media_app(_settings(tmp_path), db, "supabase") as app:
        assert app.api is not None
        ada = app.member("ada@example.com")
        export_id = app.client.post("/v1/me/exports", headers=ada.headers).json()["id"]
        exports.build_exports(app.db, app.storage, now=datetime.now(UTC), days=7)  # unless the API built it inline
        assert app.client.get(f"/v1/me/exports/{export_id}", headers=ada.headers).json()["status"] == "ready"
        app.api.mode = mode
        one = app.client.get(f"/v1/me/exports/{export_id}", headers=ada.headers)
        assert one.status_code == 503, one.text
        assert one.json()["error"]["code"] == "storage_unavailable"
        assert app.client.get("/v1/me/exports", headers=ada.headers).status_code == 503


@pytest.mark.parametrize("mode", UNSEEN)
def test_a_purge_keeps_the_row_while_storage_cannot_see_its_bucket(
    tmp_path: Path, db: Database, mode: Literal["missing_bucket", "wrong_key"]
) -> None:
    with media_app(_settings(tmp_path, trash_days=0), db, "supabase") as app:
        assert app.api is not None
        ada = app.member("ada@example.com")
        doomed, trashed = _output(app, ada.id), _output(app, ada.id)
        assert app.client.delete(f"/v1/media/{trashed.id}", headers=ada.headers).status_code == 204
        app.api.mode = mode
        # The request's own purge fails quietly (the scheduled purge retries): the row stays, trashed.
        assert app.client.delete(f"/v1/media/{doomed.id}", headers=ada.headers).status_code == 204
        with pytest.raises(StorageUnavailable):
            service.purge_media(app.db, app.storage, now=datetime.now(UTC) + timedelta(days=1))
        with app.db.transaction() as conn:
            rows = conn.execute("select id, deleted_at from media where user_id = %s", (ada.id,)).fetchall()
        assert [(row["id"], row["deleted_at"] is not None) for row in rows] == [(doomed.id, True)]
        stored = app.api.keys()
        assert doomed.storage_key in stored
        app.api.mode = "ok"
        later = datetime.now(UTC) + timedelta(days=2)  # past the failed claim's lease
        assert service.purge_media(app.db, app.storage, now=later) == 1
        stored = app.api.keys()
        assert doomed.storage_key not in stored
