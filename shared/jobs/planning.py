"""Turn a submitted `JobRequest` into a validated, priced `JobSpec` — before any credit is reserved.

Every refusal is a 422 with a stable code; an input image that is not the caller's looks exactly like one that
does not exist. A variation's source (`vary`) must be one of the caller's outputs: someone else's (or none) is
404 `image_not_found`, an upload of their own 422 `image_not_output`.
"""

from __future__ import annotations

from uuid import UUID

from config.models import (
    MAX_UPSCALE_FACTOR,
    MAX_UPSCALE_LONG_SIDE,
    SEEDLESS_TASKS,
    SIZED_TASKS,
    VARY_STRENGTHS,
    Control,
    ModelEntry,
    ModelUnavailable,
    Size,
    VaryStrength,
    follow_input_size,
    job_price,
    model_for,
    output_size,
    prompt_family,
    upscale_size,
)
from config.settings import Settings
from shared.jobs.models import JobParams, JobRequest, JobSpec, Task
from shared.kit.db.database import Connection
from shared.kit.errors import NotFound, Unprocessable
from shared.media import service as media
from shared.media.models import MediaItem
from shared.moderation import Moderator

NEEDS_PROMPT: frozenset[str] = frozenset({"text_to_image", "edit", "inpaint", "vary"})
NEEDS_IMAGE: frozenset[str] = frozenset({"edit", "inpaint", "upscale", "image_to_prompt", "vary"})
SINGLE_OUTPUT: frozenset[str] = frozenset({"upscale", "image_to_prompt"})
DEFAULT_STRENGTH: VaryStrength = "subtle"


class InvalidJob(Unprocessable):
    """The job request cannot be run as given."""

    code = "invalid_job"


class UnsupportedControl(InvalidJob):
    """The chosen model does not take this control (GET /v1/models lists each model's `controls`)."""

    code = "unsupported_control"


class ControlOutOfRange(InvalidJob):
    """A control's value is outside what the chosen model accepts; `details` states the allowed range."""

    code = "control_out_of_range"


class SourceImageNotFound(NotFound):
    """No such output among your images (a variation starts from one of your outputs)."""

    code = "image_not_found"


def plan_job(
    conn: Connection, settings: Settings, moderator: Moderator, *, user_id: UUID, request: JobRequest
) -> tuple[JobSpec, int]:
    """Validate every field for the task, resolve the model, size and inputs, and price the job."""
    task: Task = request.task
    try:
        entry = model_for(settings, task, request.model)
    except ModelUnavailable as exc:
        raise InvalidJob(exc.message, code=exc.code) from exc
    if task == "vary":  # the source first: its prompt is the default
        image, mask = _inputs(conn, user_id, task, request)
        prompt = _prompt(settings, moderator, task, request.prompt, image)
    else:
        prompt = _prompt(settings, moderator, task, request.prompt, None)
        image, mask = _inputs(conn, user_id, task, request)
    count = request.count or 1
    if task in SINGLE_OUTPUT and count != 1:
        raise InvalidJob(f"{task} makes exactly one output.", code="count_not_supported")
    width, height = _size(entry, task, request.aspect_ratio)
    target_long_side = _upscale_target(task, image, request.target_long_side)
    if target_long_side is not None and image is not None:
        width, height = upscale_size(image.width, image.height, target_long_side)
    target_model = _target_model(task, request.target_model)
    size, upscaler = _output_size(settings, task, request.size)
    strength = _strength(task, request.strength)
    negative_prompt = _controls(settings, moderator, entry, request)
    params = JobParams(
        count=count,
        width=width,
        height=height,
        aspect_ratio=request.aspect_ratio,
        target_long_side=target_long_side,
        target_model=target_model,
        seed=None if task in SEEDLESS_TASKS else request.seed,
        size=size,
        upscale_model=upscaler.id if upscaler else None,
        strength=strength,
        strength_value=VARY_STRENGTHS[strength] if strength else None,
        negative_prompt=negative_prompt,
        guidance=request.guidance,
        steps=request.steps,
        output_format=request.output_format,
    )
    spec = JobSpec(
        task=task,
        model=entry.id,
        prompt=prompt,
        image_id=image.id if image else None,
        mask_id=mask.id if mask else None,
        seed=params.seed,
        params=params,
    )
    return spec, _price(entry, task, params, image, upscaler)


def _price(
    entry: ModelEntry, task: Task, params: JobParams, image: MediaItem | None, upscaler: ModelEntry | None
) -> int:
    if params.width and params.height:
        size = (params.width, params.height)
    elif image is not None:  # an edit or variation follows its input: FLUX renders it at this size
        size = (image.width, image.height) if task in SINGLE_OUTPUT else follow_input_size(image.width, image.height)
    else:
        size = (0, 0)
    return job_price(entry, task, params.count, *size, size=params.size or "standard", upscaler=upscaler)


def _prompt(
    settings: Settings, moderator: Moderator, task: Task, raw: str | None, image: MediaItem | None
) -> str | None:
    if raw is not None and len(raw) > settings.max_prompt_chars:
        raise InvalidJob(f"The prompt is longer than {settings.max_prompt_chars} characters.", code="prompt_too_long")
    prompt = (raw or "").strip() or None
    if prompt is None and task == "vary" and image is not None:
        prompt = image.prompt  # a variation keeps its source's prompt unless given another
    if task in NEEDS_PROMPT and prompt is None:
        raise InvalidJob(f"{task} needs a prompt.", code="prompt_required")
    if prompt is not None and len(prompt) > settings.max_prompt_chars:
        raise InvalidJob(f"The prompt is longer than {settings.max_prompt_chars} characters.", code="prompt_too_long")
    if prompt is not None:
        moderator.check_prompt(prompt)
    return prompt


def _inputs(
    conn: Connection, user_id: UUID, task: Task, request: JobRequest
) -> tuple[MediaItem | None, MediaItem | None]:
    if task not in NEEDS_IMAGE and request.image is not None:
        raise InvalidJob(f"{task} takes no input image.", code="image_not_accepted")
    if task == "vary":
        image = _source_output(conn, user_id, request.image)
    else:
        image = _input(conn, user_id, request.image, ("upload", "output"), "image") if task in NEEDS_IMAGE else None
    if task in NEEDS_IMAGE and image is None:
        what = "one of your outputs" if task == "vary" else "an upload id"
        raise InvalidJob(f"{task} needs an input image ({what}).", code="image_required")
    if task != "inpaint" and request.mask is not None:
        raise InvalidJob(f"{task} takes no mask.", code="mask_not_accepted")
    mask = _input(conn, user_id, request.mask, ("mask", "upload"), "mask") if task == "inpaint" else None
    if task == "inpaint" and mask is None:
        raise InvalidJob("inpaint needs a mask (an upload id, white = repaint).", code="mask_required")
    return image, mask


def _source_output(conn: Connection, user_id: UUID, media_id: UUID | None) -> MediaItem | None:
    """A variation's source: one of the caller's outputs. Someone else's image is 404 like a missing one."""
    if media_id is None:
        return None
    try:
        item = media.get_owned(conn, user_id, media_id)
    except NotFound as exc:
        raise SourceImageNotFound() from exc
    if item.kind != "output":
        raise InvalidJob(
            "Variations start from one of your generated images, not an upload; use edit for an upload.",
            code="image_not_output",
        )
    return item


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


def _output_size(settings: Settings, task: Task, size: Size | None) -> tuple[Size | None, ModelEntry | None]:
    """ "4k" renders, then upscales with the upscale task's model in the same job; only some tasks take a size."""
    if size is None:
        return None, None
    if task not in SIZED_TASKS:
        raise InvalidJob(f"{task} takes no size.", code="size_not_supported")
    if size != "4k":
        return size, None
    try:
        return size, model_for(settings, "upscale")
    except ModelUnavailable as exc:
        raise InvalidJob(exc.message, code=exc.code) from exc


def _controls(settings: Settings, moderator: Moderator, entry: ModelEntry, request: JobRequest) -> str | None:
    """Refuse a control the model does not take (`unsupported_control`) or a value outside its bounds
    (`control_out_of_range`, the range in the message and `details`); returns the negative prompt to keep."""
    asked: dict[Control, object] = {
        "negative_prompt": request.negative_prompt,
        "guidance": request.guidance,
        "steps": request.steps,
        "output_format": request.output_format,
    }
    for name, value in asked.items():
        if value is not None and name not in entry.controls:
            supported = ", ".join(entry.controls) or "none"
            raise UnsupportedControl(
                f"{entry.id} does not take {name} (its controls: {supported}).",
                details={"control": name, "model": entry.id, "supported": list(entry.controls)},
            )
    if request.steps is not None:
        low, high = entry.steps_range
        if not low <= request.steps <= high:
            raise ControlOutOfRange(
                f"{entry.id} takes steps from {low} to {high}.",
                details={"control": "steps", "model": entry.id, "min": low, "max": high},
            )
    if request.guidance is not None:
        g_low, g_high = entry.guidance_range
        if not g_low <= request.guidance <= g_high:
            raise ControlOutOfRange(
                f"{entry.id} takes guidance from {g_low} to {g_high}.",
                details={"control": "guidance", "model": entry.id, "min": g_low, "max": g_high},
            )
    negative = (request.negative_prompt or "").strip() or None
    if negative is not None:
        if len(negative) > settings.max_prompt_chars:
            raise ControlOutOfRange(
                f"The negative prompt is longer than {settings.max_prompt_chars} characters.",
                details={"control": "negative_prompt", "model": entry.id, "max_chars": settings.max_prompt_chars},
            )
        moderator.check_prompt(negative)
    return negative


def _strength(task: Task, strength: VaryStrength | None) -> VaryStrength | None:
    if task != "vary":
        if strength is not None:
            raise InvalidJob(f"{task} takes no strength.", code="strength_not_accepted")
        return None
    return strength or DEFAULT_STRENGTH


def _upscale_target(task: Task, image: MediaItem | None, raw: int | None) -> int | None:
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


def _target_model(task: Task, raw: str | None) -> str | None:
    """A registry model that reads a prompt, or a prompt family ("flux", "sdxl", "midjourney", "video")."""
    if raw is None:
        return None
    if task != "image_to_prompt":
        raise InvalidJob(f"{task} takes no target_model.", code="target_model_not_accepted")
    try:
        prompt_family(raw)
    except ModelUnavailable as exc:
        raise InvalidJob(exc.message, code="unknown_target_model") from exc
    return str(raw)


def _input(
    conn: Connection, user_id: UUID, media_id: UUID | None, kinds: tuple[str, ...], what: str
) -> MediaItem | None:
    if media_id is None:
        return None
    try:
        return media.get_owned(conn, user_id, media_id, kinds)  # type: ignore[arg-type]
    except NotFound as exc:
        raise InvalidJob(f"No such {what} among your uploads.", code=f"{what}_not_found") from exc
