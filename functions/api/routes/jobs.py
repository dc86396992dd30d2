"""Generation jobs over HTTP: submit (202), read, list, cancel. Rendering never happens inside a request."""

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import anyio
import anyio.to_thread
from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ConfigDict, Field

from config.models import SEEDLESS_TASKS, OutputFormat, Size, Task, VaryStrength
from functions.api.deps import (
    DEFAULT_LIMIT,
    AppSettings,
    ContentModerator,
    CurrentCaller,
    Db,
    JobDispatcher,
    Limit,
    OnboardedCaller,
    PageCursor,
    RequestData,
    Storage,
)
from functions.api.fields import MultilineText, StoredText
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from functions.api.schemas import RequestModel, ResponseModel
from functions.api.suspension import NOT_SUSPENDED
from functions.api.urls import absolute
from shared.access.guard import analytics_if_allowed
from shared.jobs import service as jobs
from shared.jobs.marks import DispatchMarks
from shared.jobs.models import (
    ACTIVE,
    Admitted,
    IdempotencyKeyReused,
    Job,
    JobFinished,
    JobNotFound,
    JobRequest,
    Replayed,
    TooManyActiveJobs,
)
from shared.jobs.planning import (
    ControlOutOfRange,
    InvalidJob,
    SourceImageNotFound,
    UnsupportedControl,
    plan_job,
)
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.kit.errors import InsufficientCredits
from shared.media import service as media
from shared.media.storage import Storage as ObjectStorage
from shared.moderation import ContentBlocked

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

FINISHED = frozenset({"succeeded", "failed", "canceled"})
EVENTS_POLL_SECONDS = 0.5  # how often an event stream looks at its job
EVENTS_KEEPALIVE_SECONDS = 15.0  # a comment line keeps proxies from closing a quiet stream
EVENTS_MAX_SECONDS = 900.0  # one stream lives at most as long as a job may (ATELIER_JOB_DEADLINE_SECONDS)

PROMPTS_MAX_LIMIT = 50


class JobCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")

    task: Task
    model: StoredText | None = Field(None, max_length=100)
    prompt: MultilineText | None = Field(
        None,
        description="At most ATELIER_MAX_PROMPT_CHARS characters (this description's maxLength states the value; "
        "longer is 422 `prompt_too_long`). vary: defaults to the source output's own prompt.",
    )
    image: UUID | None = Field(
        None, description="an upload or output id: the reference image (vary: one of your outputs only)"
    )
    mask: UUID | None = Field(None, description="an upload id with purpose=mask (inpaint)")
    aspect_ratio: StoredText | None = Field(None, max_length=10)
    count: int | None = Field(None, ge=1, le=4)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    target_long_side: int | None = Field(None, ge=64, le=4096, description="upscale: the output's long side")
    target_model: StoredText | None = Field(
        None, max_length=100, description="image_to_prompt: the model the prompt is for"
    )
    size: Size | None = Field(
        None,
        description='text_to_image, vary, edit: "4k" renders, then upscales to 4096 px on the long side in the '
        "same job (one hold for both; see GET /v1/studio for the price)",
    )
    strength: VaryStrength | None = Field(
        None, description='vary: how far the variations stray from the source ("subtle" by default)'
    )
    # The controls: only where the chosen model lists them in its `controls` (GET /v1/models), else 422
    # `unsupported_control`; outside the model's bounds 422 `control_out_of_range` (details: min, max).
    negative_prompt: MultilineText | None = Field(
        None,
        description="What to steer away from (models with `negative_prompt` in their controls); at most "
        "ATELIER_MAX_PROMPT_CHARS characters",
    )
    guidance: float | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Guidance scale within the model's `guidance` range (true CFG or FLUX [dev]'s distilled "
        "guidance; FLUX [schnell] takes none)",
    )
    steps: int | None = Field(None, ge=1, le=100, description="Denoising steps within the model's `steps_range`")
    output_format: OutputFormat | None = Field(
        None, description="How outputs are encoded; default: the model's (its `defaults.output_format`)"
    )

    def command(self) -> JobRequest:
        return JobRequest(**self.model_dump())


class JobAccepted(ResponseModel):
    id: UUID
    status: str
    cost: int


class JobOutput(ResponseModel):
    id: UUID
    url: str
    thumbnail_url: str
    width: int
    height: int
    content_type: str
    seed: int | None  # the seed actually used (every output of a job shares it)


class JobError(ResponseModel):
    code: str
    message: str


class JobWithheld(ResponseModel):
    count: int = Field(ge=1, description="How many of the job's images were not delivered (and not charged)")
    reason: Literal["moderation", "storage"] = Field(
        description="`moderation`: the output classifier blocked them (counted with any the store refused); "
        "`storage`: the object store refused them"
    )


class JobOut(ResponseModel):
    id: UUID
    task: str
    model: str
    status: str
    cancel_requested: bool = Field(
        description="A cancel was accepted: the job ends `canceled` with nothing charged, even if it was rendering"
    )
    progress: float
    step: int | None = Field(None, description="The render step last reported (1-based); null until the first")
    steps: int | None = Field(None, description="How many steps the render takes (a 4k job counts its upscale too)")
    eta_seconds: int | None = Field(
        None, description="Seconds left, estimated from the time per step so far; null until it can be estimated"
    )
    prompt: str | None = Field(None, description="The prompt the job renders (a variation's: its source's by default)")
    count: int = Field(1, description="How many images the job makes")
    aspect_ratio: str | None = Field(None, description="As asked; null when the output follows the input image")
    width: int | None = Field(
        None, description="The render's width at production scale; null when it follows the input"
    )
    height: int | None = None
    size: Size | None = Field(None, description='"standard" or "4k" as asked; null when the task takes no size')
    strength: VaryStrength | None = Field(None, description="vary: the strength asked for")
    negative_prompt: str | None = Field(None, description="The negative prompt asked for")
    guidance: float | None = Field(None, description="The guidance asked for; null: the model's default")
    steps_asked: int | None = Field(None, description="The `steps` asked for; null: the model's default")
    output_format: OutputFormat | None = Field(None, description="The format asked for; null: the model's default")
    target_model: str | None = Field(None, description="image_to_prompt: the model or family the prompt is for")
    image: UUID | None = Field(None, description="The input image (vary: the source output), while it exists")
    cost: int
    outputs: list[JobOutput]
    seed: int | None = None  # the one asked for, then the one actually used once the job succeeded
    prompt_text: str | None = None
    error: JobError | None = None
    withheld: JobWithheld | None = Field(
        None,
        description="Images a succeeded job rendered but withheld: none of them is kept or charged (the job posts "
        "`cost × delivered // count`, rounded in the person's favour). null when nothing was withheld",
    )
    created_at: datetime
    finished_at: datetime | None


class JobPage(ResponseModel):
    items: list[JobOut]
    next_cursor: str | None


class RecentPrompt(ResponseModel):
    prompt: str
    used_at: datetime = Field(description="When a job of yours last used it")


class RecentPrompts(ResponseModel):
    items: list[RecentPrompt]
    next_cursor: str | None = Field(None, description="Always null: the list is the newest `limit` prompts")


def _seed(job: Job) -> int | None:
    return None if job.task in SEEDLESS_TASKS else job.seed


def _out(job: Job, outputs: list[JobOutput]) -> JobOut:
    params = job.params
    return JobOut(
        id=job.id,
        task=job.task,
        model=job.model,
        status=job.status,
        cancel_requested=job.cancel_requested,
        progress=job.progress,
        step=job.step,
        steps=job.steps,
        eta_seconds=job.eta_seconds(datetime.now(UTC)),
        prompt=job.prompt,
        count=params.count,
        aspect_ratio=params.aspect_ratio,
        width=params.width if job.task != "upscale" else None,
        height=params.height if job.task != "upscale" else None,
        size=params.size,
        strength=params.strength,
        negative_prompt=params.negative_prompt,
        guidance=params.guidance,
        steps_asked=params.steps,
        output_format=params.output_format,
        target_model=params.target_model,
        image=job.image_id,
        cost=job.cost,
        outputs=outputs,
        seed=_seed(job),
        prompt_text=job.prompt_text,
        error=JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None,
        withheld=JobWithheld(count=job.withheld.count, reason=job.withheld.reason) if job.withheld else None,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def _outputs(request: Request, conn: Connection, storage: ObjectStorage, job: Job) -> list[JobOutput]:
    items = media.outputs_of_job(conn, job.user_id, job.id)
    keys = [item.storage_key for item in items] + [item.thumbnail_key for item in items if item.thumbnail_key]
    urls = storage.signed_urls(keys)
    return [
        JobOutput(
            id=item.id,
            url=absolute(request, urls[item.storage_key]),
            thumbnail_url=absolute(request, urls[item.thumbnail_key or item.storage_key]),
            width=item.width,
            height=item.height,
            content_type=item.content_type,
            seed=_seed(job),
        )
        for item in items
    ]


@router.post(
    "",
    status_code=202,
    summary="Submit a generation job",
    response_model=JobAccepted,
    dependencies=[rate_limited("jobs"), NOT_SUSPENDED],
    responses=errors(
        InsufficientCredits,
        IdempotencyKeyReused,
        InvalidJob,
        UnsupportedControl,
        ControlOutOfRange,
        SourceImageNotFound,
        ContentBlocked,
        TooManyActiveJobs,
    ),
)
def create_job(
    *,
    request: Request,
    body: JobCreate,
    caller: OnboardedCaller,
    db: Db,
    settings: AppSettings,
    dispatcher: JobDispatcher,
    moderator: ContentModerator,
    info: RequestData,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
) -> JSONResponse:
    """Validate, price and hold the credits in one transaction, then dispatch. Always 202: the render runs
    elsewhere; poll GET /v1/jobs/{id}. The same Idempotency-Key with the same body returns the same job.
    An account may have ATELIER_MAX_ACTIVE_JOBS jobs queued or running (GET /v1/studio states it); past it the
    answer is 429 `too_many_active_jobs` and nothing is held."""
    command = body.command()
    job: Admitted | Job
    try:
        # Autocommit: the admission is one round trip, its own transaction (shared/jobs/service.submit).
        with db.autocommit() as conn:
            spec, cost = plan_job(conn, settings, moderator, user_id=caller.account.id, request=command)
            analytics = analytics_if_allowed(
                caller.account.id,
                device_id=info.device_id,
                gpc=info.gpc,
                feature=f"job:{spec.task}",
                model=spec.model,
                aspect_ratio=spec.params.aspect_ratio,
            )
            job = jobs.submit(
                conn,
                user_id=caller.account.id,
                spec=spec,
                cost=cost,
                idempotency_key=idempotency_key,
                fingerprint=jobs.request_fingerprint(command),
                deadline=settings.job_deadline,
                max_active=settings.max_active_jobs,
                along=[analytics] if analytics else [],
            )
    except Replayed as replay:  # nothing new held, inserted or recorded
        job = replay.job
    else:
        dispatcher.dispatch(job.id, job.model)
        # Written with other jobs' marks, after the answer (shared/jobs/marks.py): a hint to the reconciler only.
        marks: DispatchMarks = request.app.state.dispatch_marks
        marks.add(job.id)
    accepted = JobAccepted(id=job.id, status=job.status, cost=job.cost)
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202)


@router.get("", summary="The caller's jobs, newest first", dependencies=[rate_limited("account")])
def list_jobs(
    *,
    request: Request,
    caller: CurrentCaller,
    db: Db,
    storage: Storage,
    limit: Limit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
    status: Annotated[
        Literal["queued", "running", "succeeded", "failed", "canceled", "active"] | None,
        Query(description="`active`: queued or running (the jobs still in flight)"),
    ] = None,
    task: Task | None = None,
) -> JobPage:
    statuses: list[str] | None = list(ACTIVE) if status == "active" else [status] if status else None
    with db.transaction() as conn:
        page = jobs.list_jobs(conn, caller.account.id, cursor=cursor, limit=limit, statuses=statuses, task=task)
        items = [_out(job, _outputs(request, conn, storage, job)) for job in page.items]
    return JobPage(items=items, next_cursor=page.next_cursor)


@router.get(
    "/prompts",
    summary="The caller's recent distinct prompts, newest first",
    dependencies=[rate_limited("account")],
)
def recent_prompts(
    caller: CurrentCaller,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=PROMPTS_MAX_LIMIT)] = DEFAULT_LIMIT,
) -> RecentPrompts:
    """From the caller's own jobs (any task, any status), each prompt once, by when it was last used."""
    with db.transaction() as conn:
        rows = jobs.recent_prompts(conn, caller.account.id, limit)
    return RecentPrompts(items=[RecentPrompt(prompt=prompt, used_at=used_at) for prompt, used_at in rows])


@router.get(
    "/{job_id}",
    summary="One job with its outputs (poll about once a second, or follow /events)",
    dependencies=[rate_limited("job_polls")],
    responses=errors(JobNotFound),
)
def get_job(request: Request, job_id: UUID, caller: CurrentCaller, db: Db, storage: Storage) -> JobOut:
    """Polling has its own rate-limit budget (`job_polls`), so a page following a job never spends the
    account budget that /v1/me or checkout need."""
    with db.transaction() as conn:
        job = jobs.get_owned(conn, caller.account.id, job_id)
        return _out(job, _outputs(request, conn, storage, job))


def _read_job(request: Request, db: Database, storage: ObjectStorage, user_id: UUID, job_id: UUID) -> JobOut:
    with db.transaction() as conn:
        job = jobs.get_owned(conn, user_id, job_id)
        return _out(job, _outputs(request, conn, storage, job) if job.finished else [])


async def _job_events(
    request: Request, db: Database, storage: ObjectStorage, user_id: UUID, first: JobOut
) -> AsyncIterator[str]:
    """`event: job` whenever status, progress or the cancel request change; the stream ends after the job
    does (its last event carries the outputs), or after EVENTS_MAX_SECONDS (the client reconnects)."""
    current, last_key, sent_at = first, None, 0.0
    ends_at = time.monotonic() + EVENTS_MAX_SECONDS
    while True:
        key = (current.status, current.progress, current.step, current.cancel_requested)
        if key != last_key:
            yield f"event: job\nid: {current.status}\ndata: {current.model_dump_json()}\n\n"
            last_key, sent_at = key, time.monotonic()
        elif time.monotonic() - sent_at >= EVENTS_KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            sent_at = time.monotonic()
        if current.status in FINISHED or time.monotonic() >= ends_at or await request.is_disconnected():
            return
        await anyio.sleep(EVENTS_POLL_SECONDS)
        try:
            current = await anyio.to_thread.run_sync(_read_job, request, db, storage, user_id, current.id)
        except JobNotFound:  # the account was erased meanwhile
            return


@router.get(
    "/{job_id}/events",
    summary="Server-sent events following one job until it ends",
    dependencies=[rate_limited("job_polls")],
    responses={
        **errors(JobNotFound),
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "The event stream"},
        204: {"description": "A reconnect (`Last-Event-ID`) after the job's final event: nothing more will come"},
    },
    response_class=StreamingResponse,
)
def job_events(
    *,
    request: Request,
    job_id: UUID,
    caller: CurrentCaller,
    db: Db,
    storage: Storage,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=100)] = None,
) -> Response:
    """`text/event-stream`: one `job` event (the job as GET /v1/jobs/{id} answers it, its status as the event
    id) now and on every change, comments as keep-alives; the stream closes once the job is succeeded, failed
    or canceled. A browser's EventSource reconnects after a close: it sends the last id, and once that was a
    final status the answer is 204, which tells it to stop."""
    first = _read_job(request, db, storage, caller.account.id, job_id)  # 404 before any stream starts
    if last_event_id in FINISHED and first.status in FINISHED:
        return Response(status_code=204)
    return StreamingResponse(
        _job_events(request, db, storage, caller.account.id, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/{job_id}/cancel",
    summary="Cancel a queued or running job",
    dependencies=[rate_limited("account")],
    responses=errors(JobNotFound, JobFinished),
)
def cancel_job(request: Request, job_id: UUID, caller: CurrentCaller, db: Db, storage: Storage) -> JobOut:
    """Queued: canceled now and the credits returned. Running: answers `"cancel_requested": true`; the worker
    stops at its next step, or, if the render already ended, its success transaction sees the cancel and
    discards the outputs: the job ends `canceled` and nothing is charged. Finished: 409 `job_finished`."""
    with db.transaction() as conn:
        job = jobs.cancel(conn, caller.account.id, job_id)
        return _out(job, _outputs(request, conn, storage, job))


def state_prompt_limit(app: FastAPI, max_prompt_chars: int) -> None:
    """Write the deployment's prompt limit (ATELIER_MAX_PROMPT_CHARS) into the OpenAPI description as JobCreate's
    prompt maxLength, so the description, the API's check and GET /v1/studio state the same number."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        prompt = (
            schema.get("components", {}).get("schemas", {}).get("JobCreate", {}).get("properties", {}).get("prompt")
        )
        if prompt is not None:
            for option in prompt.get("anyOf", [prompt]):
                if option.get("type") == "string":
                    option["maxLength"] = max_prompt_chars
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
