"""Supabase Auth admin answers read strictly, and `sync-accounts`, against a loopback Supabase Auth admin API.

Only Supabase Auth's own "user not found" means a user is gone: a wrong URL or a proxy's 404 is an error. A
user deleted in Supabase is erased here with no grace period; a failed, empty or foreign listing erases nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from functions.tasks import TASKS, erasure_processors, run_sync_accounts
from shared.accounts.auth_admin import AuthAdminError, SupabaseAuthAdmin
from shared.kit.db import Database
from shared.lifecycle.auth_sync import AuthListingUntrusted
from shared.privacy import erasure
from shared.tasks.runner import TaskDef, run_task
from tests.support.fake_auth_admin import SECRET_KEY, FakeAuthAdmin, fake_auth_admin
from tests.support.tokens import HS256_SECRET, bearer, hs256


@dataclass
class World:
    db: Database
    settings: Settings
    auth: FakeAuthAdmin
    client: TestClient

    def account(self) -> uuid.UUID:
        """A signed-in account whose Supabase Auth user exists."""
        user_id = uuid.uuid4()
        self.auth.add(user_id)
        token = hs256(user_id=user_id, email=f"{user_id.hex[:8]}@example.com", iss=f"{self.auth.url}/auth/v1")
        assert self.client.get("/v1/me", headers=bearer(token)).status_code == 200
        return user_id

    def pending(self, user_id: uuid.UUID) -> erasure.PendingErasure | None:
        with self.db.transaction() as conn:
            return erasure.pending(conn, user_id)

    def exists(self, user_id: uuid.UUID) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("select 1 from accounts where id = %s", (user_id,)).fetchone() is not None


@pytest.fixture
def world(tmp_path: Path, db: Database) -> Iterator[World]:
    with fake_auth_admin() as auth:
        settings = Settings(
            data_dir=tmp_path / "data",
            supabase_url=auth.url,
            supabase_jwt_secret=HS256_SECRET,
            supabase_secret_key=SECRET_KEY,
            storage_backend="local",
            deletion_grace_days=7,
        )
        with TestClient(create_app(settings, db)) as client:
            yield World(db, settings, auth, client)


# --- delete_user / user_exists read only Supabase Auth's own answer ----------------------------------------------


def test_delete_user_accepts_only_supabase_auths_user_not_found(world: World) -> None:
    admin = SupabaseAuthAdmin(world.settings)
    gone, present = uuid.uuid4(), uuid.uuid4()
    world.auth.add(present)
    assert admin.delete_user(present) is True
    assert present not in world.auth.users
    assert admin.delete_user(gone) is True  # {"error_code": "user_not_found"}: already gone, the step is done
    wrong_url = SupabaseAuthAdmin(world.settings.model_copy(update={"supabase_url": f"{world.auth.url}/typo"}))
    with pytest.raises(AuthAdminError):
        wrong_url.delete_user(gone)  # the router's "404 page not found" is not "user not found"
    wrong_key = SupabaseAuthAdmin(world.settings.model_copy(update={"supabase_secret_key": "sb_secret_other"}))
    with pytest.raises(AuthAdminError):
        wrong_key.delete_user(gone)


def test_an_erasure_whose_auth_step_hits_a_wrong_url_is_retried_not_recorded(world: World) -> None:
    user_id = world.account()
    with world.db.transaction() as conn:
        erasure.request_erasure(conn, user_id, now=datetime.now(UTC), grace_days=0)
    wrong = world.settings.model_copy(update={"supabase_url": f"{world.auth.url}/typo"})
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert erasure.run_erasures(world.db, erasure_processors(wrong), now=later) == 0
    progress = world.pending(user_id)
    assert progress is not None
    assert "auth_user" not in progress.steps_done
    assert world.exists(user_id)
    assert erasure.run_erasures(world.db, erasure_processors(world.settings), now=later + timedelta(minutes=11)) == 1
    assert user_id not in world.auth.users
    assert not world.exists(user_id)


def test_the_user_list_is_read_page_by_page(world: World) -> None:
    ids = {uuid.uuid4() for _ in range(5)}
    for user_id in ids:
        world.auth.add(user_id)
    assert set(SupabaseAuthAdmin(world.settings).user_ids(per_page=2)) == ids
    pages = [r.path for r in world.auth.requests if r.path.startswith("/auth/v1/admin/users?")]
    assert len(pages) == 3


# --- sync-accounts ----------------------------------------------------------------------------------------------


def test_an_account_whose_auth_user_was_deleted_is_erased_without_grace(world: World) -> None:
    kept, deleted, already = world.account(), world.account(), world.account()
    with world.db.transaction() as conn:  # asked for deletion a while ago: still in its 7-day grace period
        erasure.request_erasure(conn, already, now=datetime.now(UTC), grace_days=7)
    world.auth.remove(deleted)
    world.auth.remove(already)
    now = datetime.now(UTC)
    assert run_sync_accounts(world.db, now, world.settings) == 2
    for user_id in (deleted, already):
        progress = world.pending(user_id)
        assert progress is not None
        assert progress.scheduled_for <= now
    assert world.pending(kept) is None
    assert run_sync_accounts(world.db, now, world.settings) == 2  # asking again changes nothing
    assert erasure.run_erasures(world.db, erasure_processors(world.settings), now=now + timedelta(seconds=1)) == 2
    assert not world.exists(deleted)
    assert not world.exists(already)
    assert world.exists(kept)


def test_a_failing_listing_erases_nothing_and_the_task_run_fails(world: World) -> None:
    kept, deleted = world.account(), world.account()
    world.auth.remove(deleted)
    world.auth.fail_listing = True
    task = TaskDef(
        "sync-accounts", TASKS["sync-accounts"].schedule, partial(run_sync_accounts, settings=world.settings), ""
    )
    run = run_task(world.db, task)
    assert (run.outcome, run.error) == ("failed", "AuthAdminError")
    assert world.pending(deleted) is None
    assert world.pending(kept) is None


def test_an_empty_or_foreign_listing_erases_nothing(world: World) -> None:
    first, second = world.account(), world.account()
    world.auth.remove(first)
    world.auth.remove(second)
    with pytest.raises(AuthListingUntrusted, match="no users"):
        run_sync_accounts(world.db, datetime.now(UTC), world.settings)
    world.auth.add(uuid.uuid4())  # another project's users, none of ours
    with pytest.raises(AuthListingUntrusted, match="none of our"):
        run_sync_accounts(world.db, datetime.now(UTC), world.settings)
    assert world.pending(first) is None
    assert world.pending(second) is None


def test_a_user_left_out_of_the_pages_but_still_there_is_not_erased(world: World) -> None:
    world.account()
    shifted = world.account()
    world.auth.hidden_from_listing.add(shifted)
    assert run_sync_accounts(world.db, datetime.now(UTC), world.settings) == 0
    assert world.pending(shifted) is None


def test_without_supabase_configured_the_sync_is_a_no_op(tmp_path: Path, db: Database) -> None:
    assert run_sync_accounts(db, datetime.now(UTC), Settings(data_dir=tmp_path)) == 0
