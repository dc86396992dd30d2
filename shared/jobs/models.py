from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from shared.kit.errors import Conflict, NotFound

Task = Literal["text_to_image", "edit", "inpaint", "upscale", "image_to_prompt"]
TASKS: tuple[Task, ...] = ("text_to_image", "edit", "inpaint", "upscale", "image_to_prompt")
Status = Literal["queued", "running", "succeeded", "failed", "canceled"]
WithheldReason = Literal["moderation", "storage"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})


class JobNotFound(NotFound):
    """No such job."""

    code = "job_not_found"


class JobFinished(Conflict):
    """The job has already finished; it can no longer change."""

    code = "job_finished"


class IdempotencyKeyReused(Conflict):
    """This Idempotency-Key was already used with a different request body."""

    code = "idempotency_key_reused"


@dataclass(frozen=True)
class JobSpec:
    """A validated generation request, ready to price and queue."""

    task: Task
    model: str
    prompt: str | None = None
    image_id: UUID | None = None
    mask_id: UUID | None = None
    count: int = 1
    width: int | None = None
    height: int | None = None
    aspect_ratio: str | None = None
    target_long_side: int | None = None
    target_model: str | None = None
    seed: int | None = None

    def params(self) -> dict[str, Any]:
        """What the worker needs besides prompt and inputs; stored as the job's parameters."""
        return {
            key: value
            for key, value in {
                "count": self.count,
                "width": self.width,
                "height": self.height,
                "aspect_ratio": self.aspect_ratio,
                "target_long_side": self.target_long_side,
                "target_model": self.target_model,
                "seed": self.seed,
            }.items()
            if value is not None
        }


@dataclass(frozen=True)
class Withheld:
    """Images a succeeded job rendered but did not deliver: `count` of them, and why (the output classifier blocked
    them, or the object store refused them). Nothing of them is kept and none of them is charged."""

    count: int
    reason: WithheldReason


@dataclass(frozen=True)
class Job:
    id: UUID
    user_id: UUID
    task: Task
    model: str
    status: Status
    prompt: str | None
    params: dict[str, Any]
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
