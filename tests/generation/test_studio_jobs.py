"""Issue 28 over HTTP with the real worker and tiny pipelines: variations, 4K in one job, the active-jobs limit,
progress steps, recent prompts and GET /v1/studio as the one source of what the Studio offers."""

from __future__ import annotations

import io
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from PIL import Image

from shared.credits import service as credits
from shared.jobs import service as jobs
from shared.jobs.marks import DispatchMarks
from shared.jobs.models import JobParams, JobSpec
from shared.kit.db import Database
from tests.generation import test_jobs_http as base
from tests.generation.conftest import png, size_of
from tests.generation.test_jobs_http import Studio, _available, _job, _member, _submit, _upload
from tests.support.people import Person

# The studio fixtures of the jobs tests (a real worker over tiny pipelines, the real ledger).
studio_factory = base.studio_factory
studio = base.studio


def _grant(studio: Studio, who: Person, amount: int) -> None:
    with studio.db.transaction() as conn:
        credits.grant(
            conn,
            user_id=who.id,
            amount=amount,
            kind="adjustment",
            source_ref=f"test-{uuid.uuid4()}",
            expires_at=None,
            reason="test",
        )


def _run(studio: Studio, who: Person, body: dict[str, Any]) -> dict[str, Any]:
    response = _submit(studio, who, body)
    assert response.status_code == 202, response.text
    studio.run_all()
    return _job(studio, who, response.json()["id"])


def _media(studio: Studio, who: Person, media_id: str) -> dict[str, Any]:
    response = studio.client.get(f"/v1/media/{media_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _fetch(studio: Studio, url: str) -> bytes:
    response = studio.client.get(url)
    assert response.status_code == 200
    return response.content


# -- variations ------------------------------------------------------------------------------------------------------


def test_variations_of_an_output_keep_its_prompt_and_size_and_are_charged_like_create(studio: Studio) -> None:
    who = _member(studio)
    source = _run(studio, who, {"task": "text_to_image", "prompt": "a red fox", "aspect_ratio": "16:9"})
    assert source["status"] == "succeeded"
    source_output = source["outputs"][0]
    before = _available(studio, who)

    job = _run(studio, who, {"task": "vary", "image": source_output["id"], "strength": "strong", "count": 2})

    assert job["status"] == "succeeded", job
    assert job["task"] == "vary"
    assert job["model"] == "flux-schnell"
    assert job["prompt"] == "a red fox"  # the source's own prompt
    assert job["strength"] == "strong"
    assert job["count"] == 2
    assert job["cost"] == 2  # flux-schnell's 1 credit per image, as create
    assert _available(studio, who) == before - 2  # held, then posted
    assert len(job["outputs"]) == 2
    for output in job["outputs"]:
        assert (output["width"], output["height"]) == (source_output["width"], source_output["height"])
        assert output["seed"] is not None
        item = _media(studio, who, output["id"])
        assert item["task"] == "vary"
        assert item["prompt"] == "a red fox"
        assert item["c2pa_manifest"] is True  # provenance marks on the result
        assert item["digital_source_type"] == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
        assert size_of(_fetch(studio, output["url"])) == (source_output["width"], source_output["height"])


def test_a_variation_prompt_and_strength_default_and_may_be_given(studio: Studio) -> None:
    who = _member(studio)
    source = _run(studio, who, {"task": "text_to_image", "prompt": "a cat"})["outputs"][0]["id"]
    job = _run(studio, who, {"task": "vary", "image": source, "prompt": "a cat in the rain"})
    assert job["status"] == "succeeded"
    assert job["prompt"] == "a cat in the rain"
    assert job["strength"] == "subtle"
    assert len(job["outputs"]) == 1


def test_variations_start_only_from_the_callers_own_outputs(studio: Studio) -> None:
    who, other = _member(studio), _member(studio)
    theirs = _run(studio, other, {"task": "text_to_image", "prompt": "a cat"})["outputs"][0]["id"]
    upload = _upload(studio, who, png(64, 64))
    before = _available(studio, who)

    someone_elses = _submit(studio, who, {"task": "vary", "image": theirs})
    assert someone_elses.status_code == 404
    assert someone_elses.json()["error"]["code"] == "image_not_found"
    missing = _submit(studio, who, {"task": "vary", "image": str(uuid.uuid4())})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "image_not_found"
    an_upload = _submit(studio, who, {"task": "vary", "image": upload})
    assert an_upload.status_code == 422
    assert an_upload.json()["error"]["code"] == "image_not_output"
    no_image = _submit(studio, who, {"task": "vary", "prompt": "a cat"})
    assert no_image.status_code == 422
    assert no_image.json()["error"]["code"] == "image_required"
    elsewhere = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat", "strength": "subtle"})
    assert elsewhere.status_code == 422
    assert elsewhere.json()["error"]["code"] == "strength_not_accepted"
    assert _available(studio, who) == before  # nothing held for any refusal


def test_a_canceled_variation_charges_nothing(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=1)
    who = _member(studio)
    source = _run(studio, who, {"task": "text_to_image", "prompt": "a cat"})["outputs"][0]["id"]
    before = _available(studio, who)
    idle: Studio = studio_factory(workers=0)
    queued = _submit(idle, who, {"task": "vary", "image": source, "count": 3}).json()
    assert _available(idle, who) == before - 3  # held
    running = uuid.UUID(_submit(idle, who, {"task": "vary", "image": source}).json()["id"])
    with idle.db.transaction() as conn:
        claimed = jobs.claim(conn, running)
    assert claimed is not None

    assert idle.client.post(f"/v1/jobs/{queued['id']}/cancel", headers=who.headers).json()["status"] == "canceled"
    answer = idle.client.post(f"/v1/jobs/{running}/cancel", headers=who.headers).json()
    assert answer["cancel_requested"] is True
    idle.runner.run_claimed(claimed)  # the worker sees the cancel at its first step

    assert _job(idle, who, str(running))["status"] == "canceled"
    assert _job(idle, who, str(running))["outputs"] == []
    assert _available(idle, who) == before


# -- 4K in one job ---------------------------------------------------------------------------------------------------


def test_a_4k_request_renders_and_upscales_in_one_job_with_one_hold(studio: Studio) -> None:
    who = _member(studio)
    _grant(studio, who, 100)
    before = _available(studio, who)
    studio_doc = studio.client.get("/v1/studio").json()
    quoted = studio_doc["costs"]["models"]["flux-schnell"]["text_to_image"]["by_aspect_ratio"]["1:1"]

    job = _run(studio, who, {"task": "text_to_image", "prompt": "a lighthouse", "size": "4k", "count": 2})

    assert job["status"] == "succeeded", job
    assert job["size"] == "4k"
    # 1 credit per image to render 1024², plus 17 to upscale it to 4096² (ceil(16.8 megapixels) at 1 per megapixel)
    assert job["cost"] == 2 * (1 + 17) == 2 * quoted["4k"]
    assert quoted["standard"] == 1
    assert _available(studio, who) == before - job["cost"]
    assert len(job["outputs"]) == 2
    for output in job["outputs"]:
        assert (output["width"], output["height"]) == (512, 512)  # 4096 at the tiny models' 1/8 scale
        item = _media(studio, who, output["id"])
        assert item["c2pa_manifest"] is True
        with Image.open(io.BytesIO(_fetch(studio, output["url"]))) as image:
            assert image.size == (512, 512)
    history = studio.client.get("/v1/media?kind=output", headers=who.headers).json()["items"]
    assert sorted(item["id"] for item in history) == sorted(o["id"] for o in job["outputs"])  # no intermediate
    assert job["steps"] == job["step"] == 4 + 2  # four denoising steps, then one upscale pass per image


def test_4k_is_offered_on_create_vary_and_edit_only(studio: Studio) -> None:
    who = _member(studio)
    _grant(studio, who, 100)
    source = _run(studio, who, {"task": "text_to_image", "prompt": "a cat"})["outputs"][0]
    varied = _run(studio, who, {"task": "vary", "image": source["id"], "size": "4k"})
    assert varied["status"] == "succeeded"
    assert (varied["outputs"][0]["width"], varied["outputs"][0]["height"]) == (512, 512)
    assert varied["cost"] == 1 + 17
    refused = _submit(studio, who, {"task": "upscale", "image": source["id"], "size": "4k"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "size_not_supported"
    standard = _run(studio, who, {"task": "text_to_image", "prompt": "a cat", "size": "standard"})
    assert (standard["outputs"][0]["width"], standard["outputs"][0]["height"]) == (128, 128)
    assert standard["cost"] == 1


# -- the active-jobs limit -------------------------------------------------------------------------------------------


def test_concurrent_submissions_past_the_active_limit_are_refused_with_nothing_held(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0, max_active_jobs=3, rate_limit_overrides={"jobs.user": "100/60"})
    who = _member(studio)
    before = _available(studio, who)
    barrier = threading.Barrier(8)
    answers: list[Any] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        barrier.wait()
        response = _submit(studio, who, {"task": "text_to_image", "prompt": f"cat {n}"})
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(response.status_code for response in answers)
    assert statuses == [202] * 3 + [429] * 5
    refusals = [response.json()["error"] for response in answers if response.status_code == 429]
    assert {error["code"] for error in refusals} == {"too_many_active_jobs"}
    assert {error["details"]["max_active_jobs"] for error in refusals} == {3}
    assert _available(studio, who) == before - 3  # only the accepted jobs hold credits
    listed = studio.client.get("/v1/jobs", headers=who.headers).json()["items"]
    assert len(listed) == 3  # no job row for a refusal
    active = studio.client.get("/v1/jobs?status=active", headers=who.headers).json()["items"]
    assert {job["id"] for job in active} == {job["id"] for job in listed}

    # One ends: one more fits. Another account is not limited by this one's jobs.
    studio.client.post(f"/v1/jobs/{listed[0]['id']}/cancel", headers=who.headers)
    assert _submit(studio, who, {"task": "text_to_image", "prompt": "again"}).status_code == 202
    assert _submit(studio, who, {"task": "text_to_image", "prompt": "one too many"}).status_code == 429
    other = _member(studio)
    assert _submit(studio, other, {"task": "text_to_image", "prompt": "mine"}).status_code == 202


def test_an_idempotent_replay_at_the_limit_returns_the_same_job(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0, max_active_jobs=1)
    who = _member(studio)
    body = {"task": "text_to_image", "prompt": "a cat"}
    first = _submit(studio, who, body, **{"Idempotency-Key": "k1"})
    again = _submit(studio, who, body, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert _submit(studio, who, body, **{"Idempotency-Key": "k2"}).status_code == 429


def test_the_refusals_keep_their_order_when_the_ledger_refuses_too(studio_factory: Any) -> None:
    """The hold is placed before the job's insert (which looks the key up and counts the active jobs, under the lock
    the hold took): when the ledger refuses too, a replay still answers its job, a reused key 409 and a full quota
    429 before 402; every refusal and every replay holds nothing."""
    studio: Studio = studio_factory(workers=0, max_active_jobs=2, signup_credits=4)
    who = _member(studio)
    assert _available(studio, who) == 4
    four = {"task": "text_to_image", "prompt": "a cat", "count": 4}
    first = _submit(studio, who, four, **{"Idempotency-Key": "k1"})
    assert first.status_code == 202, first.text
    assert first.json()["cost"] == 4
    assert _available(studio, who) == 0

    poor = _submit(studio, who, {"task": "text_to_image", "prompt": "a dog"}, **{"Idempotency-Key": "k2"})
    assert (poor.status_code, poor.json()["error"]["code"]) == (402, "insufficient_credits")
    replay = _submit(studio, who, four, **{"Idempotency-Key": "k1"})
    assert (replay.status_code, replay.json()["id"]) == (202, first.json()["id"])
    reused = _submit(studio, who, {**four, "prompt": "a dog"}, **{"Idempotency-Key": "k1"})
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "idempotency_key_reused")

    cancel = studio.client.post(f"/v1/jobs/{first.json()['id']}/cancel", headers=who.headers)
    assert cancel.status_code == 200, cancel.text
    assert _submit(studio, who, {"task": "text_to_image", "prompt": "b", "count": 3}).status_code == 202
    assert _submit(studio, who, {"task": "text_to_image", "prompt": "c"}).status_code == 202
    assert _available(studio, who) == 0
    full = _submit(studio, who, {"task": "text_to_image", "prompt": "d"})  # both the quota and the ledger refuse
    assert (full.status_code, full.json()["error"]["code"]) == (429, "too_many_active_jobs")

    with studio.db.transaction() as conn:
        holds = conn.execute(
            "select count(*) as n from credit_ledger where user_id = %s and type = 'hold'", (who.id,)
        ).fetchone()
        rows = conn.execute("select count(*) as n from jobs where user_id = %s", (who.id,)).fetchone()
    assert holds is not None and rows is not None  # noqa: PT018
    assert (holds["n"], rows["n"]) == (3, 3)  # one hold per admitted job, none for a refusal or the replay


def test_a_replay_holds_nothing_more_and_records_no_second_analytics_event(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0)
    who = _member(studio)
    allowed = studio.client.put("/v1/me/preferences", headers=who.headers, json={"analytics": True})
    assert allowed.status_code == 200, allowed.text
    before = _available(studio, who)
    body = {"task": "text_to_image", "prompt": "a cat", "count": 2}
    answers = [_submit(studio, who, body, **{"Idempotency-Key": "again"}) for _ in range(3)]
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert _available(studio, who) == before - 2
    with studio.db.transaction() as conn:
        events = conn.execute("select count(*) as n from analytics_events where user_id = %s", (who.id,)).fetchone()
    assert events is not None and events["n"] == 1  # noqa: PT018


def _dispatched_at(studio: Studio, job_id: str) -> Any:
    with studio.db.autocommit() as conn:
        row = conn.execute("select dispatched_at from jobs where id = %s", (job_id,)).fetchone()
    assert row is not None
    return row["dispatched_at"]


def test_an_admitted_job_is_marked_dispatched_after_the_answer_and_the_lazy_mark_stays_in_its_own_transaction(
    studio_factory: Any,
) -> None:
    studio: Studio = studio_factory(workers=0)
    who = _member(studio)
    job_id = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat"}).json()["id"]
    deadline = time.monotonic() + 10  # the marks' thread writes it LINGER_SECONDS (0.05 s) after the answer
    while _dispatched_at(studio, job_id) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _dispatched_at(studio, job_id) is not None
    with studio.db.autocommit() as conn:
        jobs.mark_dispatched(conn, [uuid.UUID(job_id)])
        after = conn.execute("show synchronous_commit").fetchone()
    assert after == {"synchronous_commit": "on"}  # the next statement on the connection commits durably again


def test_dispatch_marks_mark_queued_jobs_only_survive_a_failed_write_and_are_written_at_close(
    studio_factory: Any,
) -> None:
    """A mark that comes after the worker's claim changes nothing (queued jobs only); a batch the database refused
    is logged and dropped (the reconciler's grace covers it) without raising; `close` writes what is left, and a
    mark added after it is written at once."""
    studio: Studio = studio_factory(workers=0)
    who = _member(studio)
    with studio.db.transaction() as conn:  # committed as the API commits them, never dispatched nor marked
        spec = JobSpec(
            task="text_to_image", model="flux-schnell", prompt="a cat", params=JobParams(width=64, height=64)
        )
        ids = [
            jobs.submit(
                conn,
                user_id=who.id,
                spec=spec,
                cost=1,
                idempotency_key=None,
                fingerprint=str(n),
                deadline=timedelta(minutes=15),
            ).id
            for n in range(4)
        ]
    with studio.db.transaction() as conn:
        assert jobs.claim(conn, ids[0]) is not None
    unreachable = Database(studio.db.url).open()
    unreachable.close()
    failing = DispatchMarks(unreachable)
    failing.add(ids[1])
    assert failing.flush() == 1  # taken and dropped: nothing raised
    marks = DispatchMarks(studio.db, linger=30)  # the thread waits: close cuts its wait short and writes
    marks.add(ids[0])
    marks.add(ids[1])
    marks.add(ids[2])
    marks.close()
    marks.add(ids[3])
    assert [_dispatched_at(studio, str(job_id)) is not None for job_id in ids] == [False, True, True, True]


# -- progress, seeds, prompts ----------------------------------------------------------------------------------------


def test_progress_carries_steps_and_a_finished_job_no_estimate(studio: Studio) -> None:
    who = _member(studio)
    job = _run(studio, who, {"task": "text_to_image", "prompt": "a cat"})
    assert job["step"] == job["steps"] == 4  # the tiny engine's four steps, all reported
    assert job["eta_seconds"] is None  # nothing left to estimate once it ended
    queued: Studio = studio
    idle_job = _submit(queued, who, {"task": "text_to_image", "prompt": "a dog"}).json()
    studio.run_all()
    assert _job(studio, who, idle_job["id"])["steps"] == 4


def test_upscales_and_descriptions_report_no_seed(studio: Studio) -> None:
    who = _member(studio)
    upload = _upload(studio, who, png(64, 48))
    job = _run(studio, who, {"task": "upscale", "image": upload, "target_long_side": 128, "seed": 7})
    assert job["status"] == "succeeded"
    assert job["seed"] is None
    assert job["outputs"][0]["seed"] is None
    assert _media(studio, who, job["outputs"][0]["id"])["seed"] is None
    described = _run(studio, who, {"task": "image_to_prompt", "image": upload})
    assert described["status"] == "succeeded"
    assert described["seed"] is None


def test_recent_prompts_are_the_callers_own_distinct_prompts_newest_first(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0, max_active_jobs=10)
    who, other = _member(studio), _member(studio)
    for prompt in ("a cat", "a dog", "a cat", "a bird"):
        assert _submit(studio, who, {"task": "text_to_image", "prompt": prompt}).status_code == 202
    _submit(studio, other, {"task": "text_to_image", "prompt": "their secret"})
    response = studio.client.get("/v1/jobs/prompts", headers=who.headers)
    assert response.status_code == 200
    body = response.json()
    assert [item["prompt"] for item in body["items"]] == ["a bird", "a cat", "a dog"]
    assert body["next_cursor"] is None
    limited = studio.client.get("/v1/jobs/prompts?limit=1", headers=who.headers).json()
    assert [item["prompt"] for item in limited["items"]] == ["a bird"]
    assert studio.client.get("/v1/jobs/prompts").status_code == 401


# -- GET /v1/studio --------------------------------------------------------------------------------------------------


def test_the_studio_document_states_what_the_api_enforces(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0, max_prompt_chars=40, max_active_jobs=2)
    response = studio.client.get("/v1/studio")
    assert response.status_code == 200
    doc = response.json()
    assert doc["prompt"] == {"max_chars": 40}
    assert doc["max_active_jobs"] == 2
    assert doc["image_count"] == {"min": 1, "max": 4}
    assert [size["id"] for size in doc["sizes"]] == ["standard", "4k"]
    assert {s["id"]: s["value"] for s in doc["vary_strengths"]} == {"subtle": 0.35, "strong": 0.7}
    tasks = {task["id"]: task for task in doc["tasks"]}
    assert set(tasks) == {"text_to_image", "edit", "inpaint", "upscale", "image_to_prompt", "vary"}
    assert tasks["vary"]["label"] == "Variations"
    # what History's filter and tiles call each task's images; image-to-prompt makes none
    assert {t: tasks[t]["output_label"] for t in tasks} == {
        "text_to_image": "Created",
        "edit": "Edited",
        "inpaint": "Inpainted",
        "upscale": "Upscaled",
        "image_to_prompt": None,
        "vary": "Variations",
    }
    assert tasks["vary"]["default_model"] == "flux-schnell"
    assert tasks["vary"]["image_kinds"] == ["output"]
    assert "strength" in tasks["vary"]["fields"]
    assert "size" in tasks["vary"]["fields"]
    assert tasks["upscale"]["count"] == {"min": 1, "max": 1}
    assert tasks["upscale"]["sizes"] == []
    models = studio.client.get("/v1/models").json()["items"]
    assert [model["id"] for model in doc["models"]] == [model["id"] for model in models]
    for ours, theirs in zip(doc["models"], models, strict=True):
        assert {key: value for key, value in ours.items() if value is not None} == theirs
    assert next(ratio["aspect_ratio"] for ratio in doc["aspect_ratios"]) == doc["default_aspect_ratio"] == "1:1"

    # The prompt limit is the same number in the OpenAPI description and in the API's refusal.
    schema = studio.client.get("/openapi.json").json()
    prompt = schema["components"]["schemas"]["JobCreate"]["properties"]["prompt"]
    assert [option.get("maxLength") for option in prompt["anyOf"] if option.get("type") == "string"] == [40]
    who = _member(studio)
    refused = _submit(studio, who, {"task": "text_to_image", "prompt": "x" * 41})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "prompt_too_long"
