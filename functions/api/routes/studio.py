"""GET /v1/studio: everything the Studio's form needs, from one source (public).

Tasks with their labels, request fields and models; the models (as GET /v1/models describes them); prices enough
to compute the hold of any request before it is sent; aspect ratios, image counts, sizes, variation strengths, the
prompt limit and how many jobs an account may have in flight. The web app types none of these by hand.
"""

from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from config.models import (
    FOUR_K_LONG_SIDE,
    SIZED_TASKS,
    SIZES,
    TASK_LABELS,
    TASK_OUTPUT_LABELS,
    TASKS,
    VARY_STRENGTHS,
    Control,
    GuidanceKind,
    ModelEntry,
    ModelUnavailable,
    PromptFamily,
    Size,
    Speed,
    Task,
    VaryStrength,
    job_price,
    model_for,
    offered_models,
)
from config.settings import Settings
from functions.api.deps import AppSettings
from functions.api.ratelimits import rate_limited
from functions.api.routes.models import describe, prompt_targets
from functions.api.schemas import ResponseModel

router = APIRouter(tags=["studio"], dependencies=[rate_limited("public")])

MIN_COUNT, MAX_COUNT = 1, 4

Field_ = Literal[
    "prompt", "model", "image", "mask", "aspect_ratio", "count", "seed", "size", "strength", "target_long_side",
    "target_model", "negative_prompt", "guidance", "steps", "output_format",
]  # fmt: skip

# Which POST /v1/jobs fields each task takes, and which of them it requires. The controls (negative_prompt,
# guidance, steps, output_format) are taken only where the chosen model lists them in its `controls`.
_CONTROLS: tuple[Field_, ...] = ("negative_prompt", "guidance", "steps", "output_format")
TASK_FIELDS: dict[Task, tuple[Field_, ...]] = {
    "text_to_image": ("prompt", "model", "aspect_ratio", "count", "seed", "size", *_CONTROLS),
    "vary": ("image", "prompt", "strength", "count", "seed", "size", *_CONTROLS),
    "edit": ("prompt", "image", "model", "aspect_ratio", "count", "seed", "size", *_CONTROLS),
    "inpaint": ("prompt", "image", "mask", "model", "aspect_ratio", "count", "seed", *_CONTROLS),
    "upscale": ("image", "model", "target_long_side", "output_format"),
    "image_to_prompt": ("image", "model", "target_model"),
}
REQUIRED_FIELDS: dict[Task, tuple[Field_, ...]] = {
    "text_to_image": ("prompt",),
    "vary": ("image",),  # the prompt defaults to the source output's own
    "edit": ("prompt", "image"),
    "inpaint": ("prompt", "image", "mask"),
    "upscale": ("image",),
    "image_to_prompt": ("image",),
}
SIZE_LABELS: dict[Size, str] = {"standard": "Standard", "4k": "4K"}
STRENGTH_LABELS: dict[VaryStrength, str] = {"subtle": "Subtle", "strong": "Strong"}


class CountRange(ResponseModel):
    min: int
    max: int


class StudioTask(ResponseModel):
    id: Task
    label: str
    output_label: str | None = Field(description="What History calls the images it made; null: it makes none")
    fields: list[Field_] = Field(
        description="The POST /v1/jobs fields this task takes (besides `task`); a control (negative_prompt, "
        "guidance, steps, output_format) only where the chosen model lists it in its `controls`"
    )
    required: list[Field_] = Field(description="Those of `fields` a request must send")
    models: list[str] = Field(description="Ids of the offered models that do this task; empty: not offered here")
    default_model: str | None = Field(description="The model used when a request names none")
    count: CountRange = Field(description="How many images one request may ask for")
    sizes: list[Size] = Field(description="The sizes it takes; empty when it takes no `size`")
    image_kinds: list[Literal["upload", "output"]] = Field(
        description="What `image` may be: an upload or an output id (vary: outputs only); empty: no image"
    )


class AspectRatioOut(ResponseModel):
    aspect_ratio: str
    width: int
    height: int


class ModelPrice(ResponseModel):
    credits_per_image: int
    credits_per_megapixel: int


class ModelLicence(ResponseModel):
    id: str
    commercial: bool
    url: str


class UpscaleInfo(ResponseModel):
    factor: int
    max_long_side: int


class StepsRange(ResponseModel):
    min: int
    max: int


class GuidanceOut(ResponseModel):
    kind: GuidanceKind = Field(
        description='"cfg": true classifier-free guidance; "distilled": FLUX [dev]\'s guidance embedding'
    )
    min: float
    max: float


class ModelOut(ResponseModel):
    """A model, described exactly as GET /v1/models describes it."""

    id: str
    name: str
    tasks: list[str]
    aspect_ratios: list[AspectRatioOut]
    price: ModelPrice
    default_steps: int
    default_guidance: float
    licence: ModelLicence
    upscale: UpscaleInfo | None = None
    speed: Speed = Field(description='"fast" (a few steps) or "quality"')
    controls: list[Control] = Field(description="POST /v1/jobs fields this model accepts beyond the common ones")
    defaults: dict[str, str | int | float] = Field(description="control → the value it takes when left out")
    steps_range: StepsRange | None = Field(None, description="The `steps` it accepts; absent: it takes no `steps`")
    guidance: GuidanceOut | None = Field(None, description="The `guidance` it accepts; absent: it takes none")
    prompt_family: PromptFamily | None = Field(
        None, description="The prompt style it reads best (image-to-prompt's `target_model`); absent: it reads none"
    )


class PromptTarget(ResponseModel):
    id: str = Field(description="What to send as `target_model`")
    label: str
    family: PromptFamily
    model: str | None = Field(description="The model a prompt for this target suits; null for a family")


class TaskPrice(ResponseModel):
    credits_per_image: int = Field(description="At the standard size (the hold is this times `count`)")
    by_aspect_ratio: dict[str, dict[Size, int]] = Field(
        description='Credits per image for each aspect ratio and size, e.g. {"1:1": {"standard": 1, "4k": 18}}; '
        "the hold is this times `count`"
    )


class FourK(ResponseModel):
    long_side: int = Field(description="A 4k output's long side in pixels")
    upscale_model: str | None = Field(description="The model that upscales the render; null: 4k not offered here")
    credits_per_megapixel: int = Field(description="Added per image: per started megapixel of the 4k output")


class StudioCosts(ResponseModel):
    """Enough to show the hold before Generate.

    text_to_image (and edit/inpaint with an aspect ratio): `models[model].tasks[task].by_aspect_ratio[ratio][size]`
    times count. An edit or variation that follows its input renders at the input's size scaled to at most 2048 px
    on the long side (each side rounded down to a multiple of 16): standard = credits_per_image × count; 4k adds,
    per image, `four_k.credits_per_megapixel` × ceil(W × H / 1e6) where W × H is that render scaled to
    `four_k.long_side` on its long side. upscale: `credits_per_megapixel` × ceil(output W × H / 1e6).
    """

    models: dict[str, dict[Task, TaskPrice]] = Field(description="model id → task → its prices")
    four_k: FourK
    upscale_credits_per_megapixel: dict[str, int] = Field(description="upscale model id → credits per megapixel")


class SizeOut(ResponseModel):
    id: Size
    label: str
    long_side: int | None = Field(description="Fixed long side of the output; null: the model's own size")


class StrengthOut(ResponseModel):
    id: VaryStrength
    label: str
    value: float = Field(description="The img2img strength it stands for (0 keeps the source, 1 ignores it)")


class PromptLimits(ResponseModel):
    max_chars: int = Field(description="ATELIER_MAX_PROMPT_CHARS: longer prompts are 422 `prompt_too_long`")


class Studio(ResponseModel):
    tasks: list[StudioTask]
    models: list[ModelOut]
    prompt_targets: list[PromptTarget] = Field(description="What image-to-prompt's `target_model` takes")
    costs: StudioCosts
    aspect_ratios: list[AspectRatioOut] = Field(description="Those of text_to_image's default model, in order")
    default_aspect_ratio: str | None
    image_count: CountRange
    sizes: list[SizeOut]
    vary_strengths: list[StrengthOut]
    default_strength: VaryStrength
    prompt: PromptLimits
    max_active_jobs: int = Field(description="ATELIER_MAX_ACTIVE_JOBS: jobs one account may have queued or running")


def _default(settings: Settings, task: Task, offered: list[ModelEntry]) -> str | None:
    try:
        return model_for(settings, task).id
    except ModelUnavailable:
        return offered[0].id if offered else None


def _task(settings: Settings, task: Task, models: tuple[ModelEntry, ...]) -> StudioTask:
    offered = [entry for entry in models if task in entry.tasks]
    kinds: list[Literal["upload", "output"]] = (
        ["output"] if task == "vary" else ["upload", "output"] if "image" in TASK_FIELDS[task] else []
    )
    single = task in ("upscale", "image_to_prompt")
    return StudioTask(
        id=task,
        label=TASK_LABELS[task],
        output_label=TASK_OUTPUT_LABELS[task],
        fields=list(TASK_FIELDS[task]),
        required=list(REQUIRED_FIELDS[task]),
        models=[entry.id for entry in offered],
        default_model=_default(settings, task, offered),
        count=CountRange(min=MIN_COUNT, max=MIN_COUNT if single else MAX_COUNT),
        sizes=list(SIZES) if task in SIZED_TASKS else [],
        image_kinds=kinds,
    )


def _prices(entry: ModelEntry, upscaler: ModelEntry | None) -> dict[Task, TaskPrice]:
    prices: dict[Task, TaskPrice] = {}
    for task in entry.tasks:
        if task == "upscale":
            continue
        sizes: list[Size] = ["standard", "4k"] if task in SIZED_TASKS and upscaler else ["standard"]
        by_ratio = {
            ratio: {size: job_price(entry, task, 1, width, height, size=size, upscaler=upscaler) for size in sizes}
            for ratio, (width, height) in entry.sizes.items()
        }
        prices[task] = TaskPrice(credits_per_image=entry.credits_per_image, by_aspect_ratio=by_ratio)
    return prices


def studio_document(settings: Settings) -> Studio:
    models = offered_models(settings)
    try:
        upscaler: ModelEntry | None = model_for(settings, "upscale")
    except ModelUnavailable:
        upscaler = None
    try:
        ratios = model_for(settings, "text_to_image").sizes
    except ModelUnavailable:
        ratios = {}
    aspect_ratios = [AspectRatioOut(aspect_ratio=r, width=w, height=h) for r, (w, h) in ratios.items()]
    return Studio(
        tasks=[_task(settings, task, models) for task in TASKS],
        models=[ModelOut.model_validate(describe(entry)) for entry in models],
        prompt_targets=[PromptTarget.model_validate(target) for target in prompt_targets(models)],
        costs=StudioCosts(
            models={entry.id: _prices(entry, upscaler) for entry in models},
            four_k=FourK(
                long_side=FOUR_K_LONG_SIDE,
                upscale_model=upscaler.id if upscaler else None,
                credits_per_megapixel=upscaler.credits_per_megapixel if upscaler else 0,
            ),
            upscale_credits_per_megapixel={
                entry.id: entry.credits_per_megapixel for entry in models if "upscale" in entry.tasks
            },
        ),
        aspect_ratios=aspect_ratios,
        default_aspect_ratio=aspect_ratios[0].aspect_ratio if aspect_ratios else None,
        image_count=CountRange(min=MIN_COUNT, max=MAX_COUNT),
        sizes=[
            SizeOut(id=size, label=SIZE_LABELS[size], long_side=FOUR_K_LONG_SIDE if size == "4k" else None)
            for size in SIZES
            if size == "standard" or upscaler is not None
        ],
        vary_strengths=[
            StrengthOut(id=name, label=STRENGTH_LABELS[name], value=value) for name, value in VARY_STRENGTHS.items()
        ],
        default_strength="subtle",
        prompt=PromptLimits(max_chars=settings.max_prompt_chars),
        max_active_jobs=settings.max_active_jobs,
    )


@router.get("/v1/studio", summary="What the Studio offers here: tasks, models, prices, sizes and limits")
def studio(settings: AppSettings) -> Studio:
    return studio_document(settings)
