"""A cancel accepted while a job is running wins, even when the render has already ended and the worker is
storing the outputs: its success transaction re-reads the cancel under the row lock, discards the outputs and
their objects, voids the hold and ends the job `canceled`.

The outputs go to Supabase Storage's loopback stand-in, which holds each upload until the test has sent its
cancel: the cancel lands after the render's last cancel check and before the success transaction commits,
every time (the window the tiny models' short render hits by chance).
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from functions.generation.engine import Engine
from functions.generation.worker import JobRunner
from shared.jobs.dispatcher import QueueOnly
from shared.kit.db import Database
from shared.media.storage import SupabaseStorage
from shared.moderation import TermListModerator
from tests.generation.conftest import png
from tests.support.fake_storage_api import BUCKET, SECRET_KEY, fake_storage_api
from tests.support.people import onboard, person
from tests.support.tokens import HS256_SECRET

ROUNDS = 100


def test_a_cancel_right_after_running_wins_every_time_and_charges_nothing(
    tmp_path: Path, db: Database, engine: Engine
) -> None:
    uploading, release = threading.Event(), threading.Event()

    def hold_upload(key: str) -> None:
        uploading.set()
        assert release.wait(30)

    with fake_storage_api() as api:
        storage = SupabaseStorage(api.url, SECRET_KEY, BUCKET)
        settings = Settings(
            data_dir=tmp_path / "data",
            supabase_jwt_secret=HS256_SECRET,
            rate_limit_overrides={"jobs.user": "1000/60", "jobs.ip": "1000/60", "account.user": "1000/60"},
        )
        moderator = TermListModerator()
        runner = JobRunner(db=db, storage=storage, engine=engine, settings=settings, moderator=moderator)
        app = create_app(settings, db, storage, dispatcher=QueueOnly(), moderator=moderator)
        with TestClient(app) as client:
            who = person()
            onboard(client, who)
            files = {"file": ("a.png", png(32, 32), "image/png")}
            image = client.post("/v1/uploads", headers=who.headers, files=files).json()["id"]
            api.before_upload = hold_upload  # from now on, each output's upload waits for the test's cancel
            before = client.get("/v1/credits", headers=who.headers).json()["available"]
            statuses: list[tuple[str, bool]] = []
            for _ in range(ROUNDS):
                uploading.clear()
                release.clear()
                body = {"task": "upscale", "image": image, "target_long_side": 64}  # the quickest render
                job_id = uuid.UUID(client.post("/v1/jobs", json=body, headers=who.headers).json()["id"])
                worker = threading.Thread(target=runner.run, args=(job_id,))
                worker.start()
                assert uploading.wait(60), "the worker never reached the upload"
                assert client.get(f"/v1/jobs/{job_id}", headers=who.headers).json()["status"] == "running"
                canceled = client.post(f"/v1/jobs/{job_id}/cancel", headers=who.headers)
                assert canceled.status_code == 200, canceled.text
                answer: dict[str, Any] = canceled.json()
                assert (answer["status"], answer["cancel_requested"]) == ("running", True)
                release.set()
                worker.join(60)
                final = client.get(f"/v1/jobs/{job_id}", headers=who.headers).json()
                statuses.append((final["status"], final["outputs"] == []))
            after = client.get("/v1/credits", headers=who.headers).json()["available"]
        storage.close()
        assert statuses == [("canceled", True)] * ROUNDS
        assert after == before, "zero charged"
        outputs_left = [key for key in api.keys() if "/outputs/" in key]  # noqa: SIM118 - a method, not a dict
        assert outputs_left == [], "the discarded outputs' objects are gone"
