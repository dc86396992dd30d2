"""Jobs over HTTP with the real worker, real tiny diffusers pipelines and the real credit ledger.

Each test drives POST /v1/jobs, then runs the worker (in-process threads, as the local stack does),
then reads the job and the caller's credits back over HTTP.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from functions.generation.engine import Engine, VolumeSource
from functions.generation.local_workers import LocalDispatcher
from functions.generation.worker import JobRunner
from shared.jobs import service as jobs
from shared.jobs.dispatcher import QueueOnly
from shared.jobs.reconcile import reconcile
from shared.kit.db import Database
from shared.media.storage import LocalStorage
from shared.moderation import TermListModerator
from tests.generation.conftest import png, size_of
from tests.support.people import Person, onboard, person
from tests.support.tokens import HS256_SECRET


@dataclass
class Recording:
    """A dispatcher that only records (for the reconciler's re-dispatch)."""

    sent: list[uuid.UUID] = field(default_factory=list)

    def dispatch(self, job_id: uuid.UUID, model: str) -> None:
        self.sent.append(job_id)


class BlockAllOutputs(TermListModerator):
    """A moderator that rejects every rendered image (the seam a classifier plugs into)."""

    def output_allowed(self, image_bytes: bytes, content_type: str) -> bool:
        return False


@dataclass
class Studio:
    client: TestClient
    db: Database
    settings: Settings
    runner: JobRunner
    workers: LocalDispatcher | None

    def run_all(self) -> None:
        assert self.workers is not None
        self.workers.join()


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, **overrides)


@pytest.fixture
def studio_factory(tmp_path: Path, db: Database, engine: Engine) -> Iterator[Any]:
    made: list[tuple[TestClient, LocalDispatcher | None]] = []

    def make(*, workers: int = 1, moderator: Any = None, run_engine: Engine | None = None, **overrides: Any) -> Studio:
        settings = _settings(tmp_path, **overrides)
        storage = LocalStorage(settings.storage_dir)
        chosen = moderator or TermListModerator()
        runner = JobRunner(
            db=db, storage=storage, engine=run_engine or engine, settings=settings, moderator=chosen, poll_seconds=0
        )
        pool = LocalDispatcher(runner.run, workers) if workers else None
        app = create_app(settings, db, storage, dispatcher=pool or QueueOnly(), moderator=chosen)
        client = TestClient(app)
        client.__enter__()
        made.append((client, pool))
        return Studio(client, db, settings, runner, pool)

    yield make
    for client, pool in made:
        if pool is not None:
            pool.stop()
        client.__exit__(None, None, None)


@pytest.fixture
def studio(studio_factory: Any) -> Studio:
    made: Studio = studio_factory()
    return made


def _member(studio: Studio) -> Person:
    who = person()
    onboard(studio.client, who)
    return who


def _available(studio: Studio, who: Person) -> int:
    response = studio.client.get("/v1/credits", headers=who.headers)
    assert response.status_code == 200, response.text
    available: int = response.json()["available"]
    return available


def _upload(studio: Studio, who: Person, data: bytes, *, purpose: str = "image") -> str:
    response = studio.client.post(
        "/v1/uploads", headers=who.headers, files={"file": ("a.png", data, "image/png")}, data={"purpose": purpose}
    )
    assert response.status_code == 201, response.text
    media_id: str = response.json()["id"]
    return media_id


def _submit(studio: Studio, who: Person, body: dict[str, Any], **headers: str) -> Any:
    return studio.client.post("/v1/jobs", json=body, headers={**who.headers, **headers})


def _job(studio: Studio, who: Person, job_id: str) -> dict[str, Any]:
    response = studio.client.get(f"/v1/jobs/{job_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _mask(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    image = Image.new("L", (width, height), 0)
    image.paste(255, (width // 4, height // 4, width * 3 // 4, height * 3 // 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _body_for(studio: Studio, who: Person, task: str) -> dict[str, Any]:
    if task == "text_to_image":
        return {"task": task, "prompt": "a lighthouse at dusk", "aspect_ratio": "1:1", "count": 2, "seed": 7}
    image = _upload(studio, who, png(64, 48))
    if task == "edit":
        return {"task": task, "prompt": "make it winter", "image": image, "seed": 3}
    if task == "inpaint":
        mask = _upload(studio, who, _mask(64, 48), purpose="mask")
        return {"task": task, "prompt": "a red door", "image": image, "mask": mask, "seed": 3}
    if task == "upscale":
        return {"task": task, "image": image, "target_long_side": 256}
    return {"task": task, "image": image, "target_model": "flux-schnell"}


@pytest.mark.parametrize("task", ["text_to_image", "edit", "inpaint", "upscale", "image_to_prompt"])
def test_each_task_runs_end_to_end_and_is_charged_once(studio: Studio, task: str) -> None:
    who = _member(studio)
    body = _body_for(studio, who, task)
    before = _available(studio, who)

    accepted = _submit(studio, who, body)
    assert accepted.status_code == 202, accepted.text
    job_id, cost = accepted.json()["id"], accepted.json()["cost"]
    assert accepted.json()["status"] == "queued"
    assert cost > 0
    studio.run_all()

    job = _job(studio, who, job_id)
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    assert job["error"] is None
    assert _available(studio, who) == before - cost  # the hold was posted, once
    if task == "image_to_prompt":
        assert job["outputs"] == []
        assert job["prompt_text"]
        return
    expected = 2 if task == "text_to_image" else 1
    assert len(job["outputs"]) == expected
    for output in job["outputs"]:
        downloaded = studio.client.get(output["url"])
        assert downloaded.status_code == 200
        assert size_of(downloaded.content) == (output["width"], output["height"])
    requested = {  # the registry's size for the aspect ratio, scaled for tiny models; edits follow the input
        "text_to_image": studio.runner.engine.output_size("flux-schnell", "1:1"),
        "edit": (64, 48),
        "inpaint": (64, 48),
        "upscale": (256, 192),
    }[task]
    assert {(output["width"], output["height"]) for output in job["outputs"]} == {requested}
    history = studio.client.get("/v1/media", params={"kind": "output"}, headers=who.headers).json()["items"]
    assert {item["id"] for item in history} == {output["id"] for output in job["outputs"]}


def _pixels(data: bytes) -> bytes:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def _render(studio: Studio, who: Person, **extra: Any) -> dict[str, Any]:
    accepted = _submit(studio, who, {"task": "text_to_image", "prompt": "a red fox", **extra})
    assert accepted.status_code == 202, accepted.text
    studio.run_all()
    job = _job(studio, who, accepted.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def test_the_seed_the_worker_picked_is_returned_and_renders_the_same_pixels_again(studio: Studio) -> None:
    who = _member(studio)
    job = _render(studio, who)  # no seed asked for: the worker draws one
    seed = job["seed"]
    assert isinstance(seed, int)
    [output] = job["outputs"]
    assert output["seed"] == seed
    item = studio.client.get(f"/v1/media/{output['id']}", headers=who.headers).json()
    assert item["seed"] == seed
    thumbnail = studio.client.get(output["thumbnail_url"])
    assert (thumbnail.status_code, thumbnail.headers["content-type"]) == (200, "image/webp")
    assert output["thumbnail_url"] != output["url"]

    pixels = _pixels(studio.client.get(output["url"]).content)
    again = _render(studio, who, seed=seed)
    assert again["seed"] == seed
    assert _pixels(studio.client.get(again["outputs"][0]["url"]).content) == pixels  # that seed made the image
    other = _render(studio, who, seed=(seed + 1) % 2**32)
    assert _pixels(studio.client.get(other["outputs"][0]["url"]).content) != pixels


def test_a_blocked_output_fails_the_job_and_returns_the_credits(studio_factory: Any) -> None:
    studio: Studio = studio_factory(moderator=BlockAllOutputs())
    who = _member(studio)
    before = _available(studio, who)
    job_id = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat"}).json()["id"]
    studio.run_all()
    job = _job(studio, who, job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "content_blocked"
    assert job["outputs"] == []
    assert _available(studio, who) == before
    assert studio.client.get("/v1/media", headers=who.headers).json()["items"] == []


def test_a_failing_render_fails_the_job_with_its_code_and_returns_the_credits(
    studio_factory: Any, tmp_path: Path
) -> None:
    no_weights = Engine(VolumeSource(tmp_path / "empty-volume"), device="cpu")
    studio: Studio = studio_factory(run_engine=no_weights)
    who = _member(studio)
    before = _available(studio, who)
    job_id = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat"}).json()["id"]
    studio.run_all()
    job = _job(studio, who, job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "weights_missing"
    assert _available(studio, who) == before


def test_canceling_a_queued_job_returns_its_credits_and_a_second_cancel_is_409(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0)
    who = _member(studio)
    before = _available(studio, who)
    job_id = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat"}).json()["id"]
    assert _available(studio, who) == before - 1  # held while queued

    canceled = studio.client.post(f"/v1/jobs/{job_id}/cancel", headers=who.headers)
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert _available(studio, who) == before
    again = studio.client.post(f"/v1/jobs/{job_id}/cancel", headers=who.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_finished"
    assert studio.runner.run(uuid.UUID(job_id)) is None  # a late dispatch finds nothing to do


def test_canceling_a_running_job_stops_it_between_steps_and_returns_its_credits(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0)
    who = _member(studio)
    before = _available(studio, who)
    job_id = uuid.UUID(_submit(studio, who, {"task": "text_to_image", "prompt": "a cat"}).json()["id"])
    with studio.db.transaction() as conn:
        claimed = jobs.claim(conn, job_id)
    assert claimed is not None

    requested = studio.client.post(f"/v1/jobs/{job_id}/cancel", headers=who.headers)
    assert requested.status_code == 200
    assert requested.json()["status"] == "running"  # the worker stops at its next step

    finished = studio.runner.run_claimed(claimed)
    assert finished is not None
    assert finished.status == "canceled"
    assert _job(studio, who, str(job_id))["status"] == "canceled"
    assert _available(studio, who) == before


def test_other_users_get_404_for_a_job_and_cannot_cancel_it(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0)
    owner, other = _member(studio), _member(studio)
    job_id = _submit(studio, owner, {"task": "text_to_image", "prompt": "a cat"}).json()["id"]
    assert studio.client.get(f"/v1/jobs/{job_id}", headers=other.headers).status_code == 404
    refused = studio.client.post(f"/v1/jobs/{job_id}/cancel", headers=other.headers)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "job_not_found"
    assert _job(studio, owner, job_id)["status"] == "queued"
    listed = studio.client.get("/v1/jobs", headers=other.headers).json()
    assert listed["items"] == []


def test_the_same_idempotency_key_from_many_threads_makes_one_job_and_one_hold(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0)
    who = _member(studio)
    before = _available(studio, who)
    body = {"task": "text_to_image", "prompt": "a cat", "count": 2}
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        results.append(_submit(studio, who, body, **{"Idempotency-Key": "retry-1"}))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {response.status_code for response in results} == {202}
    assert len({response.json()["id"] for response in results}) == 1
    assert _available(studio, who) == before - 2
    reused = _submit(studio, who, {**body, "prompt": "a dog"}, **{"Idempotency-Key": "retry-1"})
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


def test_refusals_have_stable_codes_and_hold_nothing(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0, max_prompt_chars=50)
    who, other = _member(studio), _member(studio)
    before = _available(studio, who)
    others_upload = _upload(studio, other, png(32, 32))
    cases: dict[str, dict[str, Any]] = {
        "prompt_required": {"task": "text_to_image"},
        "prompt_too_long": {"task": "text_to_image", "prompt": "x" * 51},
        "content_blocked": {"task": "text_to_image", "prompt": "bestiality"},
        "image_not_found": {"task": "upscale", "image": others_upload},
        "image_required": {"task": "edit", "prompt": "winter"},
        "mask_required": {"task": "inpaint", "prompt": "door", "image": _upload(studio, who, png(32, 32))},
        "count_not_supported": {"task": "upscale", "image": _upload(studio, who, png(32, 32)), "count": 2},
        "unsupported_aspect_ratio": {"task": "text_to_image", "prompt": "a cat", "aspect_ratio": "7:3"},
        "model_task_mismatch": {"task": "text_to_image", "prompt": "a cat", "model": "real-esrgan-x4"},
    }
    for code, body in cases.items():
        response = _submit(studio, who, body)
        assert response.status_code == 422, (code, response.text)
        assert response.json()["error"]["code"] == code, response.text
    poor = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat", "count": 4})
    for _ in range(before // 4):
        poor = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat", "count": 4})
    assert poor.status_code == 402
    assert poor.json()["error"]["code"] == "insufficient_credits"
    listed = studio.client.get("/v1/jobs", headers=who.headers).json()["items"]
    assert sum(job["cost"] for job in listed) == before - _available(studio, who)  # only accepted jobs hold


def test_generation_needs_onboarding(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0)
    newcomer = person()
    response = _submit(studio, newcomer, {"task": "text_to_image", "prompt": "a cat"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "onboarding_required"


def test_jobs_list_newest_first_with_filters_and_cursor(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0)
    who = _member(studio)
    ids = [_submit(studio, who, {"task": "text_to_image", "prompt": f"cat {n}"}).json()["id"] for n in range(3)]
    first = studio.client.get("/v1/jobs", params={"limit": 2}, headers=who.headers).json()
    second = studio.client.get(
        "/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=who.headers
    ).json()
    assert [job["id"] for job in first["items"] + second["items"]] == list(reversed(ids))
    assert second["next_cursor"] is None
    assert studio.client.get("/v1/jobs", params={"status": "succeeded"}, headers=who.headers).json()["items"] == []


def test_reconcile_fails_a_job_whose_worker_died_and_returns_its_credits(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0, job_deadline_seconds=60)
    who = _member(studio)
    before = _available(studio, who)
    job_id = uuid.UUID(_submit(studio, who, {"task": "text_to_image", "prompt": "a cat"}).json()["id"])
    with studio.db.transaction() as conn:
        assert jobs.claim(conn, job_id) is not None  # a worker took it, then died

    now = datetime.now(UTC)
    assert reconcile(studio.db, Recording(), now=now) == 0  # before the deadline nothing happens
    assert reconcile(studio.db, Recording(), now=now + timedelta(seconds=90)) == 1
    job = _job(studio, who, str(job_id))
    assert job["status"] == "failed"
    assert job["error"]["code"] == "timeout"
    assert _available(studio, who) == before
    assert reconcile(studio.db, Recording(), now=now + timedelta(seconds=90)) == 0


def test_reconcile_dispatches_a_job_committed_without_dispatch_once(studio: Studio, db: Database) -> None:
    who = _member(studio)
    recorded = Recording()
    with db.transaction() as conn:  # what the API commits before it dispatches; here it never dispatched
        from shared.jobs.models import JobParams, JobSpec

        job = jobs.submit(
            conn,
            user_id=who.id,
            spec=JobSpec(
                task="text_to_image", model="flux-schnell", prompt="a cat", params=JobParams(width=1024, height=1024)
            ),
            cost=1,
            idempotency_key=None,
            fingerprint="x",
            deadline=timedelta(minutes=15),
        )
    now = datetime.now(UTC)
    assert reconcile(db, recorded, now=now) == 0  # within the API's own dispatch window
    assert reconcile(db, recorded, now=now + timedelta(minutes=2)) == 1
    assert reconcile(db, recorded, now=now + timedelta(minutes=3)) == 0
    assert recorded.sent == [job.id]


def test_two_reconcilers_at_once_fail_each_overdue_job_once(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0, job_deadline_seconds=60, max_active_jobs=5)
    who = _member(studio)
    before = _available(studio, who)
    for n in range(5):
        _submit(studio, who, {"task": "text_to_image", "prompt": f"cat {n}"})
    later = datetime.now(UTC) + timedelta(minutes=5)
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        counts.append(reconcile(studio.db, Recording(), now=later))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 5
    assert _available(studio, who) == before


def test_a_burst_of_job_requests_passes_the_budget_and_holds_nothing_for_the_rest(studio_factory: Any) -> None:
    studio: Studio = studio_factory(
        workers=0, rate_limit_overrides={"jobs.user": "5/60", "jobs.ip": "1000/60"}, max_active_jobs=10
    )
    who = _member(studio)
    with studio.db.transaction() as conn:
        from shared.credits import service as credits

        credits.grant(
            conn, user_id=who.id, amount=500, kind="adjustment", source_ref="burst-test", expires_at=None, reason="test"
        )
    before = _available(studio, who)
    responses = [_submit(studio, who, {"task": "text_to_image", "prompt": "a cat"}) for _ in range(100)]
    statuses = [response.status_code for response in responses]
    assert statuses.count(202) == 5
    assert statuses.count(429) == 95
    assert all(int(r.headers["Retry-After"]) > 0 for r in responses if r.status_code == 429)
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {"rate_limited"}
    assert _available(studio, who) == before - 5


def test_requesting_erasure_cancels_queued_jobs_and_stops_running_ones(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0)
    who = _member(studio)
    before = _available(studio, who)
    queued = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat"}).json()["id"]
    running = uuid.UUID(_submit(studio, who, {"task": "text_to_image", "prompt": "a dog"}).json()["id"])
    with studio.db.transaction() as conn:
        claimed = jobs.claim(conn, running)
    assert claimed is not None

    assert studio.client.request("DELETE", "/v1/me", headers=who.headers).status_code == 202

    with studio.db.transaction() as conn:
        assert jobs.get_owned(conn, who.id, uuid.UUID(queued)).status == "canceled"
        assert jobs.get_owned(conn, who.id, running).cancel_requested
    finished = studio.runner.run_claimed(claimed)  # the worker stops at its next step
    assert finished is not None
    assert finished.status == "canceled"
    with studio.db.transaction() as conn:
        from shared.credits import service as credits

        assert credits.balance(conn, who.id).available == before


@pytest.mark.parametrize(
    ("analytics", "gpc", "recorded"),
    [(False, False, 0), (True, True, 0), (True, False, 1)],
    ids=["no-consent", "consent-but-gpc", "consent"],
)
def test_a_generation_counts_in_analytics_only_with_consent_and_sets_no_cookie(
    studio: Studio, analytics: bool, gpc: bool, recorded: int
) -> None:
    who = _member(studio)
    device = f"dev-{uuid.uuid4().hex}"
    version = studio.client.get("/v1/policies/current").json()["version"]
    choice = {"device_id": device, "categories": {"analytics": analytics}, "notice_version": version}
    assert studio.client.post("/v1/consents", json=choice, headers=who.headers).status_code == 201
    headers = {"X-Device-ID": device, **({"Sec-GPC": "1"} if gpc else {})}
    accepted = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat"}, **headers)
    assert accepted.status_code == 202
    assert "set-cookie" not in accepted.headers
    studio.run_all()
    job = studio.client.get(f"/v1/jobs/{accepted.json()['id']}", headers={**who.headers, **headers})
    assert job.json()["status"] == "succeeded"
    assert "set-cookie" not in job.headers
    with studio.db.transaction() as conn:
        row = conn.execute("select count(*) as n from analytics_events where user_id = %s", (who.id,)).fetchone()
    assert row == {"n": recorded}
