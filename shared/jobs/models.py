"""Jobs as the domain sees them: the command a route submits (`JobRequest`), the typed parameters a planned job
carries from the API to the worker (`JobParams`, stored in the `jobs.params` jsonb column), and the job row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import field, fields
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from config.models import TASKS, OutputFormat, Size, Task, VaryStrength
from config.values import value
from shared.kit.errors import AtelierError, Conflict, NotFound

__all__ = ["TASKS", "Task"]

Status = Literal["queued", "running", "succeeded", "failed", "canceled"]
WithheldReason = Literal["moderation", "storage"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})
ACTIVE: tuple[Status, ...] = ("queued", "running")


class JobNotFound(NotFound):
    """No such job."""

    code = "job_not_found"


class JobFinished(Conflict):
    """The job has already finished; it can no longer change."""

    code = "job_finished"


class IdempotencyKeyReused(Conflict):
    """This Idempotency-Key was already used with a different request body."""

    code = "idempotency_key_reused"


class TooManyActiveJobs(AtelierError):
    """You already have as many jobs queued or running as an account may; wait for one to finish."""

    status = 429
    code = "too_many_active_jobs"


class Replayed(Exception):
    """`submit` found the job this Idempotency-Key admitted before (same body). Raised, not returned, so the
    caller's transaction rolls back the hold placed before the key could be looked up; answer with `job`."""

    def __init__(self, job: Job) -> None:
        super().__init__(str(job.id))
        self.job = job


@value
class JobRequest:
    """The command a route submits: the request as the person sent it, unvalidated against the registry.

    Field names are the JSON body's, so `body()` is the body itself (the Idempotency-Key fingerprint is its hash).
    """

    task: Task
    model: str | None = None
    prompt: str | None = None
    image: UUID | None = None
    mask: UUID | None = None
    aspect_ratio: str | None = None
    count: int | None = None
    seed: int | None = None
    target_long_side: int | None = None
    target_model: str | None = None
    size: Size | None = None
    strength: VaryStrength | None = None
    negative_prompt: str | None = None
    guidance: float | None = None
    steps: int | None = None
    output_format: OutputFormat | None = None

    def body(self) -> dict[str, Any]:
        """The request as JSON values, fields left out when not given (what the fingerprint hashes)."""
        return {
            key: str(value) if isinstance(value, UUID) else value
            for key, value in _values(self, _REQUEST_FIELDS)
            if value is not None
        }


@value
class JobParams:
    """A planned job's parameters besides task, model, prompt, inputs and seed: one typed record from the API to
    the worker, stored in `jobs.params` (fields left out when None, so older rows read back unchanged).

    width/height are the registry's (production) render size, None when the render follows its input (an edit or
    variation without an aspect ratio); the worker scales them for tiny models. `upscale_long_side` is the final
    long side of a "4k" job (the render is upscaled to it in the same job) or of an upscale.
    """

    count: int = 1
    width: int | None = None
    height: int | None = None
    aspect_ratio: str | None = None
    target_long_side: int | None = None  # upscale: the output's long side
    target_model: str | None = None  # image_to_prompt: the model the prompt is for
    seed: int | None = None
    size: Size | None = None  # text_to_image, vary, edit: "standard" or "4k"
    upscale_model: str | None = None  # "4k": the model that upscales the render
    strength: VaryStrength | None = None  # vary
    strength_value: float | None = None  # vary: the img2img strength `strength` stood for when the job was planned
    # The model's controls (ModelEntry.controls), as asked; None: the model's default.
    negative_prompt: str | None = None
    guidance: float | None = None
    steps: int | None = None
    output_format: OutputFormat | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.count <= 4:
            raise ValueError("count must be between 1 and 4")
        if (self.width is None) != (self.height is None):
            raise ValueError("width and height go together")
        if self.size == "4k" and self.upscale_model is None:
            raise ValueError("a 4k job names its upscale model")
        if self.strength_value is not None and not 0.0 < self.strength_value <= 1.0:
            raise ValueError("strength must be in (0, 1]")

    @property
    def four_k(self) -> bool:
        return self.size == "4k"

    def to_json(self) -> dict[str, Any]:
        """The jsonb value stored in jobs.params."""
        return {key: value for key, value in _values(self, _PARAMS_FIELDS) if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> JobParams:
        """Read a stored jobs.params value back (unknown keys are ignored: a newer writer's extras)."""
        return cls(**{key: value for key, value in (data or {}).items() if key in _PARAMS_FIELDS})


# The field names of the two records whose values every submission reads (its fingerprint, its stored params):
# the same values as `asdict`, without its deep copy of each one (the fields are scalars; ~70 µs a request).
_REQUEST_FIELDS = tuple(f.name for f in fields(JobRequest))
_PARAMS_FIELDS = tuple(f.name for f in fields(JobParams))


def _values(record: object, names: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    return ((name, getattr(record, name)) for name in names)


@value
class JobSpec:
    """A validated, resolved generation request, ready to queue: the job row's columns and its typed parameters."""

    task: Task
    model: str
    prompt: str | None = None
    image_id: UUID | None = None
    mask_id: UUID | None = None
    seed: int | None = None
    params: JobParams = field(default_factory=JobParams)


@value
class Withheld:
    """Images a succeeded job rendered but did not deliver: `count` of them, and why (the output classifier blocked
    them, or the object store refused them). Nothing of them is kept and none of them is charged."""

    count: int
    reason: WithheldReason


@value
class Admitted:
    """What `submit` answers for a job it queued: the columns its callers read (the 202's id, status and cost, the
    dispatch's model, the hold), not the whole row (a job's 28 columns cost the database their output and the API
    their parsing on every admission, for a row whose other columns are the insert's defaults)."""

    id: UUID
    status: Status
    cost: int
    model: str
    hold_id: UUID | None


@value
class Job:
    """A generation job as its row holds it."""

    id: UUID
    user_id: UUID
    task: Task
    model: str
    status: Status
    prompt: str | None
    params: JobParams
    image_id: UUID | None
    mask_id: UUID | None
    cost: int
    hold_id: UUID | None
    progress: float
    cancel_requested: bool
    seed: int | None
    prompt_text: str | None
    error_code: str | None
    error_message: str | None
    attempts: int
    created_at: datetime
    dispatched_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime
    withheld_count: int = 0
    withheld_reason: WithheldReason | None = None
    step: int | None = None  # the render step last reported (1-based), None until the first
    steps: int | None = None  # how many steps the render takes in all (a 4k job counts its upscale passes too)
    step_at: datetime | None = None  # when `step` was reported
    outputs: list[Any] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def withheld(self) -> Withheld | None:
        """What a succeeded job did not deliver; None when it delivered everything it rendered."""
        if self.withheld_count == 0 or self.withheld_reason is None:
            return None
        return Withheld(self.withheld_count, self.withheld_reason)

    def eta_seconds(self, now: datetime) -> int | None:
        """Seconds left while running, from the time per step so far (since the job started, so loading counts);
        None until a step was reported, and once the job is no longer running."""
        if self.status != "running" or not self.step or not self.steps or self.started_at is None:
            return None
        if self.step_at is None:
            return None
        per_step = max(0.0, (self.step_at - self.started_at).total_seconds()) / self.step
        left = per_step * (self.steps - self.step) - max(0.0, (now - self.step_at).total_seconds())
        return max(0, round(left))
