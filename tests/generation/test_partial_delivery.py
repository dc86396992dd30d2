"""A job that delivers only some of its images (issue 35): the classifier blocked some, or the store refused some.

Through the real worker with the tiny offline pipelines, the real ledger and the real API. The image classifier is
a stand-in at its seam (`shared.moderation.ImageClassifier`, what `ClassifierModerator` asks); the object store is
the local folder, or Supabase Storage's loopback stand-in refusing chosen uploads at its HTTP boundary. For each
case: the ledger posts exactly the delivered share (rounded down: in the person's favour) and returns the rest,
History holds only the delivered images, nothing of a withheld image is left in storage, and the job says what
was withheld and why.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from config.settings import Settings
from functions.api.app import create_app
from functions.generation.engine import Engine
from functions.generation.worker import JobRunner
from shared.jobs.dispatcher import QueueOnly
from shared.jobs.service import charge_for
from shared.kit.db import Database
from shared.media.storage import LocalStorage, Storage, SupabaseStorage, user_prefix
from shared.moderation import Classification, ClassifierModerator, TermListModerator
from tests.support.fake_storage_api import BUCKET, SECRET_KEY, FakeStorageApi, fake_storage_api
from tests.support.people import Person, onboard, person
from tests.support.tokens import HS256_SECRET

STAND_IN = "stand-in-classifier@test"


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


class BlockChosen:
    """An image classifier that blocks a job's outputs at the chosen indexes (in the order the worker judges
    them) and remembers the pixels of every image it saw, so a test can tell which ones were delivered."""

    def __init__(self, blocked: set[int]) -> None:
        self.blocked = blocked
        self.seen: list[bytes] = []
        self._lock = threading.Lock()

    def classify(self, image_bytes: bytes) -> Classification:
        with self._lock:
            index = len(self.seen)
            self.seen.append(_pixels(image_bytes))
        return Classification({"sexual": 1.0 if index in self.blocked else 0.0}, model=STAND_IN)


@dataclass
class Studio:
    client: TestClient
    db: Database
    storage: Storage
    runner: JobRunner


@pytest.fixture
def make_studio(tmp_path: Path, db: Database, engine: Engine) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(classifier: BlockChosen, storage: Storage | None = None) -> Studio:
        settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET)
        store = storage or LocalStorage(settings.storage_dir)
        runner = JobRunner(
            db=db,
            storage=store,
            engine=engine,
            settings=settings,
            moderator=ClassifierModerator(classifier),
            poll_seconds=0,
        )
        client = TestClient(create_app(settings, db, store, dispatcher=QueueOnly(), moderator=TermListModerator()))
        client.__enter__()
        clients.append(client)
        return Studio(client, db, store, runner)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _member(studio: Studio) -> Person:
    who = person()
    onboard(studio.client, who)
    return who


def _run_job(studio: Studio, who: Person, count: int) -> dict[str, Any]:
    """Submit a text-to-image job of `count` images (no seed: the worker picks one), run it, read it back."""
    accepted = studio.client.post(
        "/v1/jobs", json={"task": "text_to_image", "prompt": "a fox", "count": count}, headers=who.headers
    )
    assert accepted.status_code == 202, accepted.text
    studio.runner.run(uuid.UUID(accepted.json()["id"]))
    job = studio.client.get(f"/v1/jobs/{accepted.json()['id']}", headers=who.headers)
    assert job.status_code == 200, job.text
    body: dict[str, Any] = job.json()
    return body


def _ledger(db: Database, job_id: str) -> dict[str, int]:
    """The job's ledger rows by type (each type at most once for one hold)."""
    with db.transaction() as conn:
        rows = conn.execute(
            "select type, amount from credit_ledger where ref = %s order by created_at, id", (f"job:{job_id}",)
        ).fetchall()
    types = [row["type"] for row in rows]
    assert len(types) == len(set(types)), types
    return {row["type"]: int(row["amount"]) for row in rows}


def _history(studio: Studio, who: Person) -> list[dict[str, Any]]:
    response = studio.client.get("/v1/media", headers=who.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _stored_keys(studio: Studio, who: Person) -> list[str]:
    """Every object under the person's storage prefix (outputs and thumbnails alike)."""
    return sorted(studio.storage.list(user_prefix(who.id)))


def _media_keys(db: Database, who: Person) -> list[str]:
    with db.transaction() as conn:
        rows = conn.execute("select storage_key, thumbnail_key from media where user_id = %s", (who.id,)).fetchall()
    return sorted(key for row in rows for key in (row["storage_key"], row["thumbnail_key"]))


def _assert_delivered_only(studio: Studio, who: Person, job: dict[str, Any], delivered: int) -> None:
    outputs = job["outputs"]
    assert len(outputs) == delivered
    assert sorted(item["id"] for item in _history(studio, who)) == sorted(o["id"] for o in outputs)
    keys = _stored_keys(studio, who)
    assert len(keys) == 2 * delivered  # each delivered image and its thumbnail, nothing else
    assert keys == _media_keys(studio.db, who)


@pytest.mark.parametrize(
    ("count", "blocked"),
    [(2, {0}), (2, {1}), (3, {1}), (3, {0, 2}), (4, {3}), (4, {0, 1, 2})],
    ids=["2-first", "2-second", "3-one", "3-all-but-one", "4-one", "4-all-but-one"],
)
def test_blocked_images_are_withheld_and_only_the_delivered_share_is_charged(
    make_studio: Any, count: int, blocked: set[int]
) -> None:
    classifier = BlockChosen(blocked)
    studio: Studio = make_studio(classifier)
    who = _member(studio)
    before = studio.client.get("/v1/credits", headers=who.headers).json()["available"]

    job = _run_job(studio, who, count)

    delivered = count - len(blocked)
    assert job["status"] == "succeeded", job
    assert job["withheld"] == {"count": len(blocked), "reason": "moderation"}
    assert len(classifier.seen) == count
    charged = job["cost"] * delivered // count
    assert charged * count <= job["cost"] * delivered  # never a credit more than the delivered share
    assert _ledger(studio.db, job["id"]) == {"hold": job["cost"], "post": charged, "release": job["cost"] - charged}
    assert studio.client.get("/v1/credits", headers=who.headers).json()["available"] == before - charged
    _assert_delivered_only(studio, who, job, delivered)
    kept = [pixels for index, pixels in enumerate(classifier.seen) if index not in blocked]
    fetched = [_pixels(studio.client.get(output["url"]).content) for output in job["outputs"]]
    assert sorted(fetched) == sorted(kept)  # exactly the allowed images, none of the blocked ones
    with studio.db.transaction() as conn:
        outcomes = [
            row["outcome"]
            for row in conn.execute(
                "select outcome from moderation_decisions where job_id = %s order by created_at, id",
                (uuid.UUID(job["id"]),),
            ).fetchall()
        ]
    assert sorted(outcomes) == sorted(["blocked"] * len(blocked) + ["allowed"] * delivered)


def test_a_job_that_delivers_everything_withholds_nothing_and_says_null(make_studio: Any) -> None:
    studio: Studio = make_studio(BlockChosen(set()))
    who = _member(studio)
    job = _run_job(studio, who, 2)
    assert job["status"] == "succeeded"
    assert "withheld" in job
    assert job["withheld"] is None
    assert _ledger(studio.db, job["id"]) == {"hold": job["cost"], "post": job["cost"]}
    _assert_delivered_only(studio, who, job, 2)


def test_a_job_whose_every_image_is_blocked_fails_and_charges_nothing(make_studio: Any) -> None:
    studio: Studio = make_studio(BlockChosen({0, 1, 2}))
    who = _member(studio)
    job = _run_job(studio, who, 3)
    assert (job["status"], job["error"]["code"], job["withheld"]) == ("failed", "content_blocked", None)
    assert _ledger(studio.db, job["id"]) == {"hold": job["cost"], "void": job["cost"]}
    assert _history(studio, who) == []
    assert _stored_keys(studio, who) == []


@pytest.fixture
def storage_api() -> Iterator[FakeStorageApi]:
    with fake_storage_api() as api:
        yield api


@pytest.mark.parametrize("refused", ["outputs", "thumbnails"])
def test_an_image_the_store_refuses_is_withheld_for_storage(
    make_studio: Any, storage_api: FakeStorageApi, refused: str
) -> None:
    refusals: list[str] = []
    lock = threading.Lock()

    def refuse_the_first(key: str) -> bool:  # one object of one output; the worker uploads in parallel
        with lock:
            if f"/{refused}/" in key and not refusals:
                refusals.append(key)
                return True
        return False

    storage_api.refuse_upload = refuse_the_first
    remote = SupabaseStorage(storage_api.url, SECRET_KEY, BUCKET)
    try:
        studio: Studio = make_studio(BlockChosen(set()), remote)
        who = _member(studio)
        job = _run_job(studio, who, 3)

        assert len(refusals) == 1
        assert job["status"] == "succeeded", job
        assert job["withheld"] == {"count": 1, "reason": "storage"}
        charged = job["cost"] * 2 // 3
        assert _ledger(studio.db, job["id"]) == {"hold": job["cost"], "post": charged, "release": job["cost"] - charged}
        _assert_delivered_only(studio, who, job, 2)  # a refused thumbnail takes its image back out, too
    finally:
        remote.close()


def test_a_job_whose_every_image_the_store_refuses_fails_and_charges_nothing(
    make_studio: Any, storage_api: FakeStorageApi
) -> None:
    storage_api.refuse_upload = lambda key: "/outputs/" in key
    remote = SupabaseStorage(storage_api.url, SECRET_KEY, BUCKET)
    try:
        studio: Studio = make_studio(BlockChosen(set()), remote)
        who = _member(studio)
        job = _run_job(studio, who, 2)
        assert (job["status"], job["withheld"]) == ("failed", None)
        assert _ledger(studio.db, job["id"]) == {"hold": job["cost"], "void": job["cost"]}
        assert _history(studio, who) == []
        assert _stored_keys(studio, who) == []
    finally:
        remote.close()


@pytest.mark.parametrize(
    ("cost", "count", "delivered", "charged"),
    [(5, 2, 1, 2), (10, 3, 1, 3), (10, 3, 2, 6), (4, 4, 3, 3), (7, 4, 0, 0), (7, 4, 4, 7), (7, 4, 5, 7)],
)
def test_the_share_is_rounded_in_the_persons_favour(cost: int, count: int, delivered: int, charged: int) -> None:
    assert charge_for(cost, count, delivered) == charged
    assert charge_for(cost, count, delivered) * count <= cost * min(delivered, count)
