"""Export and erasure against a Supabase Storage that cannot see its bucket (missing bucket or wrong key):
both fail and retry, never read the empty listing as "this person has no files"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import Settings
from shared.accounts.auth_admin import SupabaseAuthAdmin
from shared.kit.db import Database
from shared.media.storage import StorageUnavailable, SupabaseStorage
from shared.privacy import erasure, exports
from tests.support.accounts import make_account
from tests.support.fake_storage_api import BUCKET, SECRET_KEY, fake_storage_api


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
