"""The typed job records: the submitted command, the parameters stored in jobs.params, the time-left estimate."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.api.routes.jobs import JobCreate
from shared.jobs.models import Job, JobParams, JobRequest
from shared.jobs.service import request_fingerprint


def test_the_command_is_the_body_so_the_idempotency_fingerprint_is_unchanged() -> None:
    image = uuid.uuid4()
    body = JobCreate(task="edit", prompt="make it blue", image=image, count=2, aspect_ratio="1:1")
    command = body.command()
    assert command == JobRequest(task="edit", prompt="make it blue", image=image, count=2, aspect_ratio="1:1")
    assert command.body() == body.model_dump(exclude_none=True, mode="json")  # what the route hashed before
    assert request_fingerprint(command) == request_fingerprint(body.model_dump(exclude_none=True, mode="json"))
    assert request_fingerprint(command) != request_fingerprint(replace(command, count=3))


def test_params_round_trip_through_json_and_read_rows_written_before_them() -> None:
    params = JobParams(count=2, width=1024, height=1024, aspect_ratio="1:1", size="4k", upscale_model="real-esrgan-x4")
    stored = params.to_json()
    assert stored == {
        "count": 2,
        "width": 1024,
        "height": 1024,
        "aspect_ratio": "1:1",
        "size": "4k",
        "upscale_model": "real-esrgan-x4",
    }
    assert JobParams.from_json(stored) == params
    # A row written before the typed record (and one from a newer writer, with a key this one does not know).
    old = JobParams.from_json({"count": 3, "target_long_side": 2048, "later": True})
    assert (old.count, old.target_long_side, old.size, old.four_k) == (3, 2048, None, False)
    assert JobParams.from_json({}) == JobParams()
    with pytest.raises(ValueError, match="count"):
        JobParams(count=5)
    with pytest.raises(ValueError, match="upscale model"):
        JobParams(size="4k")


def _job(**changes: object) -> Job:
    started = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    job = Job(
        id=uuid.uuid4(), user_id=uuid.uuid4(), task="text_to_image", model="flux-schnell", status="running",
        prompt="a cat", params=JobParams(), image_id=None, mask_id=None, cost=1, hold_id=None, progress=0.25,
        cancel_requested=False, seed=None, prompt_text=None, error_code=None, error_message=None, attempts=1,
        created_at=started, dispatched_at=started, started_at=started, finished_at=None,
        deadline_at=started + timedelta(minutes=15),
    )  # fmt: skip
    return replace(job, **changes)  # type: ignore[arg-type]


def test_the_time_left_is_estimated_from_the_time_per_step_so_far() -> None:
    started = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert _job().eta_seconds(started) is None  # no step yet
    running = _job(step=2, steps=10, step_at=started + timedelta(seconds=4))  # 2 s a step
    assert running.eta_seconds(started + timedelta(seconds=4)) == 16
    assert running.eta_seconds(started + timedelta(seconds=10)) == 10  # time passes after the last report
    assert running.eta_seconds(started + timedelta(seconds=60)) == 0  # never negative
    assert _job(status="succeeded", step=10, steps=10, step_at=started).eta_seconds(started) is None
