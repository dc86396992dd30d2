"""Turn a job request into a validated, priced JobSpec — before any credit is reserved.

Every refusal is a 422 with a stable code; an input image that is not the caller's looks exactly
like one that does not exist.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from config.models import (
    MAX_UPSCALE_FACTOR,
    MAX_UPSCALE_LONG_SIDE,
    ModelEntry,
    ModelUnavailable,
    get_model,
    model_for,
    output_size,
    price,
    upscale_size,
)
from config.settings import Settings
from shared.jobs.models import JobSpec, Task
from shared.kit.db.database import Connection
from shared.kit.errors import NotFound, Unprocessable
from shared.media import service as media
from shared.media.models import MediaItem
from shared.moderation import Moderator

NEEDS_PROMPT: frozenset[str] = frozenset({"text_to_image", "edit", "inpaint"})
NEEDS_IMAGE: frozenset[str] = frozenset({"edit", "inpaint", "upscale", "image_to_prompt"})
SINGLE_OUTPUT: frozenset[str] = frozenset({"upscale", "image_to_prompt"})


class InvalidJob(Unprocessable):
    """The job request cannot be run as given."""

    code = "invalid_job"


def plan_job(
    conn: Connection, settings: Settings, moderator: Moderator, *, user_id: UUID, body: dict[str, Any]
) -> tuple[JobSpec, int]:
    """Validate every field for the task, resolve the model, size and inputs, and price the job."""
    task: Task = body["task"]
    try:
        entry = model_for(settings, task, body.get("model"))
    except ModelUnavailable as exc:
        raise InvalidJob(exc.message, code=exc.code) from exc
    prompt = _prompt(settings, moderator, task, body.get("prompt"))
    image, mask = _inputs(conn, user_id, task, body)
    count = int(body.get("count") or 1)
    if task in SINGLE_OUTPUT and count != 1:
        raise InvalidJob(f"{task} makes exactly one output.", code="count_not_supported")
    aspect_ratio = body.get("aspect_ratio")
    width, height = _size(entry, task, aspect_ratio)
    target_long_side = _upscale_target(task, image, body.get("target_long_side"))
    if target_long_side is not None and image is not None:
        width, height = upscale_size(image.width, image.height, target_long_side)
    target_model = _target_model(task, body.get("target_model"))
    spec = JobSpec(
        task=task,
        model=entry.id,
        prompt=prompt,
        image_id=image.id if image else None,
        mask_id=mask.id if mask else None,
        count=count,
        width=width,
        height=height,
        aspect_ratio=aspect_ratio,
        target_long_side=target_long_side,
        target_model=target_model,
        seed=body.get("seed"),
    )
    size = (width, height) if width and height else ((image.width, image.height) if image else (0, 0))
    return spec, price(entry, task, count, *size)


def _prompt(settings: Settings, moderator: Moderator, task: Task, raw: Any) -> str | None:
    prompt = (raw or "").strip() or None
    if task in NEEDS_PROMPT and prompt is None:
        raise InvalidJob(f"{task} needs a prompt.", code="prompt_required")
    if prompt is not None and len(prompt) > settings.max_prompt_chars:
        raise InvalidJob(f"The prompt is longer than {settings.max_prompt_chars} characters.", code="prompt_too_long")
    if prompt is not None:
        moderator.check_prompt(prompt)
    return prompt


def _inputs(
    conn: Connection, user_id: UUID, task: Task, body: dict[str, Any]
) -> tuple[MediaItem | None, MediaItem | None]:
    if task not in NEEDS_IMAGE and body.get("image") is not None:
        raise InvalidJob(f"{task} takes no input image.", code="image_not_accepted")
    image = _input(conn, user_id, body.get("image"), ("upload", "output"), "image") if task in NEEDS_IMAGE else None
    if task in NEEDS_IMAGE and image is None:
        raise InvalidJob(f"{task} needs an input image (an upload id).", code="image_required")
    if task != "inpaint" and body.get("mask") is not None:
        raise InvalidJob(f"{task} takes no mask.", code="mask_not_accepted")
    mask = _input(conn, user_id, body.get("mask"), ("mask", "upload"), "mask") if task == "inpaint" else None
    if task == "inpaint" and mask is None:
        raise InvalidJob("inpaint needs a mask (an upload id, white = repaint).", code="mask_required")
    return image, mask


def _size(entry: ModelEntry, task: Task, aspect_ratio: str | None) -> tuple[int | None, int | None]:
    """The registry's size for text-to-image (or an edit given an aspect ratio); None lets edits follow the input."""
    if aspect_ratio is not None and task not in ("text_to_image", "edit", "inpaint"):
        raise InvalidJob(f"{task} keeps the input's aspect ratio.", code="aspect_ratio_not_supported")
    if task != "text_to_image" and aspect_ratio is None:
        return None, None
    try:
        return output_size(entry, aspect_ratio)
    except ModelUnavailable as exc:
        raise InvalidJob(exc.message, code="unsupported_aspect_ratio") from exc


def _upscale_target(task: Task, image: MediaItem | None, raw: Any) -> int | None:
    if task != "upscale":
        if raw is not None:
            raise InvalidJob(f"{task} takes no target_long_side.", code="target_size_not_accepted")
        return None
    assert image is not None  # noqa: S101 - upscale requires an image, checked in _inputs
    target = int(raw or min(MAX_UPSCALE_LONG_SIDE, max(image.width, image.height) * 4))
    try:
        upscale_size(image.width, image.height, target)
    except ValueError as exc:
        raise InvalidJob(
            f"{exc}; at most {MAX_UPSCALE_LONG_SIDE} px and {MAX_UPSCALE_FACTOR}x.", code="invalid_target_size"
        ) from exc
    return target


def _target_model(task: Task, raw: Any) -> str | None:
    if raw is None:
        return None
    if task != "image_to_prompt":
        raise InvalidJob(f"{task} takes no target_model.", code="target_model_not_accepted")
    try:
        get_model(raw)
    except ModelUnavailable as exc:
        raise InvalidJob(exc.message, code="unknown_target_model") from exc
    return str(raw)


def _input(conn: Connection, user_id: UUID, media_id: Any, kinds: tuple[str, ...], what: str) -> MediaItem | None:
    if media_id is None:
        return None
    try:
        return media.get_owned(conn, user_id, UUID(str(media_id)), kinds)  # type: ignore[arg-type]
    except (NotFound, ValueError) as exc:
        raise InvalidJob(f"No such {what} among your uploads.", code=f"{what}_not_found") from exc
