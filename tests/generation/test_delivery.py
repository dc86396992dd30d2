"""How a worker delivers outputs: objects uploaded before the finishing transaction, which records only rows;
objects deleted again whenever that finish does not commit (job finished meanwhile, or the commit fails). An output
the store refused is withheld (the others are delivered, tests/generation/test_partial_delivery.py); when the store
refuses every output the job fails and its credits go back.

The object store is the real local one, wrapped to observe each write (Supabase Storage is the remote service
it stands for); the database, the worker, the engine and the ledger are the real ones.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from functions.generation.engine import Engine
from functions.generation.worker import JobRunner
from shared.jobs import repo as jobs_repo
from shared.jobs import service as jobs
from shared.jobs.dispatcher import QueueOnly
from shared.kit.db import Database
from shared.media.storage import LocalStorage, StorageUnavailable
from shared.moderation import TermListModerator
from tests.generation.test_jobs_http import Studio, _available, _job, _member, _submit
from tests.support.tokens import HS256_SECRET


@pytest.fixture
def studio(tmp_path: Path, db: Database, engine: Engine) -> Iterator[Studio]:
    """The API with no worker threads: each test runs the worker itself, with the storage it observes."""
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET)
    storage = LocalStorage(settings.storage_dir)
    moderator = TermListModerator()
    runner = JobRunner(db=db, storage=storage, engine=engine, settings=settings, moderator=moderator, poll_seconds=0)
    app = create_app(settings, db, storage, dispatcher=QueueOnly(), moderator=moderator)
    with TestClient(app) as client:
        yield Studio(client, db, settings, runner, None)


class ObservedStorage(LocalStorage):
    """The local object store, calling `on_put(index)` before each output's write (index counts from 0).

    Thumbnails (written right after their image, shared/media/thumbnails.py) are stored but not observed."""

    def __init__(self, root: Path, on_put: Callable[[int], None]) -> None:
        super().__init__(root)
        self.on_put = on_put
        self.puts = 0
        self._lock = threading.Lock()  # the worker uploads a job's outputs in parallel threads

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if "/thumbnails/" in key:
            super().put(key, data, content_type)
            return
        with self._lock:  # one observation at a time: a probe must not see another upload thread's probe
            index, self.puts = self.puts, self.puts + 1
            self.on_put(index)
        super().put(key, data, content_type)


def _open_transactions(db: Database) -> int:
    """Sessions on this database holding a transaction open while their client does something else."""
    with db.transaction() as conn:
        row = conn.execute(
            """select count(*) as n from pg_stat_activity
               where datname = current_database() and pid <> pg_backend_pid() and state like 'idle in transaction%'"""
        ).fetchone()
    assert row is not None
    return int(row["n"])


def _objects(studio: Studio) -> list[Path]:
    """Outputs and their thumbnails: both must go when a delivery does not commit."""
    return [
        path
        for path in studio.settings.storage_dir.rglob("*")
        if path.is_file() and ("/outputs/" in str(path) or "/thumbnails/" in str(path))
    ]


def _run_with(studio: Studio, storage: LocalStorage, job_id: str) -> Any:
    runner = dataclasses.replace(studio.runner, storage=storage)
    return runner.run(uuid.UUID(job_id))


def _media_rows(db: Database, job_id: str) -> int:
    with db.transaction() as conn:
        row = conn.execute("select count(*) as n from media where job_id = %s", (uuid.UUID(job_id),)).fetchone()
    assert row is not None
    return int(row["n"])


def test_outputs_are_uploaded_with_no_transaction_open_and_recorded_after(studio: Studio) -> None:
    who = _member(studio)
    seen: list[int] = []
    storage = ObservedStorage(studio.settings.storage_dir, lambda _index: seen.append(_open_transactions(studio.db)))
    job_id = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat", "count": 3, "seed": 1}).json()["id"]

    finished = _run_with(studio, storage, job_id)

    assert finished is not None
    assert finished.status == "succeeded"
    assert seen == [0, 0, 0]  # every object written while no session of ours had a transaction open
    job = _job(studio, who, job_id)
    assert len(job["outputs"]) == 3
    for output in job["outputs"]:
        assert studio.client.get(output["url"]).status_code == 200


def test_a_job_finished_meanwhile_gets_its_uploaded_objects_deleted(studio: Studio) -> None:
    who = _member(studio)
    before = _available(studio, who)
    job_id = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat", "count": 2}).json()["id"]

    def time_out_after_the_last_upload(index: int) -> None:
        if index == 1:  # the reconciler fails the job while its outputs are on their way
            with studio.db.transaction() as conn:
                job = jobs_repo.get(conn, uuid.UUID(job_id))
                assert job is not None
                assert jobs.fail(conn, job, code="timeout", message="too slow") is not None

    storage = ObservedStorage(studio.settings.storage_dir, time_out_after_the_last_upload)
    assert _run_with(studio, storage, job_id) is None

    assert storage.puts == 2
    assert _objects(studio) == []
    assert _media_rows(studio.db, job_id) == 0
    assert _job(studio, who, job_id)["status"] == "failed"
    assert _available(studio, who) == before


def test_a_failed_upload_withholds_that_output_and_delivers_the_others(studio: Studio) -> None:
    who = _member(studio)
    before = _available(studio, who)
    job_id = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat", "count": 4}).json()["id"]

    def fail_the_third(index: int) -> None:
        if index == 2:
            raise StorageUnavailable("the object store did not answer")

    storage = ObservedStorage(studio.settings.storage_dir, fail_the_third)
    finished = _run_with(studio, storage, job_id)

    assert finished is not None
    assert finished.status == "succeeded"
    assert len(_objects(studio)) == 6  # three outputs and their thumbnails; nothing of the refused one
    assert _media_rows(studio.db, job_id) == 3
    job = _job(studio, who, job_id)
    assert job["withheld"] == {"count": 1, "reason": "storage"}
    assert _available(studio, who) == before - job["cost"] * 3 // 4


def test_when_every_upload_fails_the_job_fails_and_returns_the_credits(studio: Studio) -> None:
    who = _member(studio)
    before = _available(studio, who)
    job_id = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat", "count": 2}).json()["id"]

    def fail_all(index: int) -> None:
        raise StorageUnavailable("the object store did not answer")

    storage = ObservedStorage(studio.settings.storage_dir, fail_all)
    finished = _run_with(studio, storage, job_id)

    assert finished is not None
    assert finished.status == "failed"
    assert _objects(studio) == []
    assert _media_rows(studio.db, job_id) == 0
    assert _available(studio, who) == before


def test_a_finish_that_does_not_commit_deletes_the_uploaded_objects(studio: Studio) -> None:
    who = _member(studio)
    before = _available(studio, who)
    job_id = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat", "count": 2}).json()["id"]
    with studio.db.transaction() as conn:  # the database refuses the rows, as a broken commit would
        conn.execute(
            """create function refuse_media() returns trigger language plpgsql as
               $$ begin raise exception 'refused'; end $$"""
        )
        conn.execute("create trigger refuse_media before insert on media for each row execute function refuse_media()")

    storage = ObservedStorage(studio.settings.storage_dir, lambda _index: None)
    finished = _run_with(studio, storage, job_id)

    assert storage.puts == 2
    assert finished is not None
    assert finished.status == "failed"
    assert _objects(studio) == []
    assert _available(studio, who) == before
