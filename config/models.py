"""The model registry as data: what each model does, where its weights come from, what it costs, who may use it.

No torch here: the API lists and prices models without loading any. The engine (`functions/generation/engine.py`)
turns an entry into a pipeline; `deploy.py weights` fills the weights volume from the pinned revisions.

Licences. A *paid* deployment (production, unless `ATELIER_PAID` says otherwise) offers only models whose
licence allows commercial use, plus the non-commercial ones the operator declares a licence for in
`ATELIER_NONCOMMERCIAL_LICENSED` (a comma-separated list of model ids or licence ids, e.g.
`flux-kontext-dev,flux-fill-dev` or `flux-1-dev-non-commercial` for every FLUX.1 [dev] model). An unpaid
(local, evaluation) deployment offers everything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Literal, Protocol, get_args

from config.values import value

Task = Literal["text_to_image", "edit", "inpaint", "upscale", "image_to_prompt", "vary"]
TASKS: tuple[Task, ...] = get_args(Task)
# What the web app calls each task (GET /v1/studio).
TASK_LABELS: Mapping[Task, str] = MappingProxyType(
    {
        "text_to_image": "Create",
        "edit": "Edit",
        "inpaint": "Inpaint",
        "upscale": "Upscale",
        "image_to_prompt": "Describe",
        "vary": "Variations",
    }
)
# What History calls the images a task made (its "Show" filter and each tile); None: the task makes no image.
TASK_OUTPUT_LABELS: Mapping[Task, str | None] = MappingProxyType(
    {
        "text_to_image": "Created",
        "edit": "Edited",
        "inpaint": "Inpainted",
        "upscale": "Upscaled",
        "image_to_prompt": None,
        "vary": "Variations",
    }
)
# Tasks that make no image from noise: their outputs carry no seed (nothing to reuse), and a seed asked for is ignored.
SEEDLESS_TASKS: frozenset[Task] = frozenset({"upscale", "image_to_prompt"})

# Output sizes a generation may ask for: "4k" renders, then upscales to FOUR_K_LONG_SIDE on the long side in the
# same job (one hold for both, one output), with the upscale task's default model.
Size = Literal["standard", "4k"]
SIZES: tuple[Size, ...] = get_args(Size)
SIZED_TASKS: frozenset[Task] = frozenset({"text_to_image", "vary", "edit"})
FOUR_K_LONG_SIDE = 4096

# Variations (`vary`) are FLUX image-to-image (diffusers' FluxImg2ImgPipeline over the create model's weights).
# `strength` is the fraction of the denoising schedule re-run over the source (diffusers: 0 keeps the image, 1
# ignores it; its FLUX img2img example uses 0.95 to re-imagine, its default is 0.6). "subtle" keeps composition,
# colours and subject and changes detail and texture; "strong" keeps only the rough layout and palette. With
# schnell's 4 steps they run 2 and 3 of the 4 steps (diffusers skips the first int(4 - 4 * strength)).
VaryStrength = Literal["subtle", "strong"]
VARY_STRENGTHS: Mapping[VaryStrength, float] = MappingProxyType({"subtle": 0.35, "strong": 0.7})
Family = Literal["flux", "flux-kontext", "flux-fill", "esrgan", "florence2", "qwen-image", "flux2-klein"]
GpuType = Literal["H100", "A100-80GB", "L40S", "A10G", "L4"]
OutputFormat = Literal["webp", "jpeg", "png"]
Speedup = Literal["compile", "fuse_qkv", "fp8"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
# How fast a model answers, as the Studio shows it: "fast" (a few steps, seconds) or "quality" (more steps).
Speed = Literal["fast", "quality"]
# The POST /v1/jobs fields a model may accept beyond the common ones (ModelEntry.controls lists those it does);
# any other model answers 422 `unsupported_control` naming the field.
Control = Literal["negative_prompt", "guidance", "steps", "output_format"]
CONTROLS: tuple[Control, ...] = get_args(Control)
# What `guidance` means for a model: "cfg" is true classifier-free guidance (two passes per step, a negative prompt
# steers away); "distilled" is FLUX [dev]'s guidance embedding (one pass; a negative prompt runs true CFG at
# ModelEntry.negative_cfg_scale); "none" takes no guidance (FLUX [schnell] is guidance-free).
GuidanceKind = Literal["none", "distilled", "cfg"]
# What image-to-prompt shapes a prompt for (`target_model`): a registry model id, or one of these families.
PromptFamily = Literal["flux", "sdxl", "midjourney", "video"]
PROMPT_FAMILIES: tuple[PromptFamily, ...] = get_args(PromptFamily)
PROMPT_FAMILY_LABELS: Mapping[PromptFamily, str] = MappingProxyType(
    {
        "flux": "FLUX / Qwen (natural language)",
        "sdxl": "SDXL (weighted tags)",
        "midjourney": "Midjourney",
        "video": "Video models",
    }
)
SPEEDUPS: tuple[Speedup, ...] = get_args(Speedup)

# A revision is a full commit hash (pinned) or a branch that `deploy.py weights` resolves and locks on the weights
# volume (shared/weights.py); the GPU classes load the pinned or locked commit, never a branch.
_COMMIT = re.compile(r"^[0-9a-f]{40}$")

# Upscale output limits.
MAX_UPSCALE_LONG_SIDE = 4096
MAX_UPSCALE_FACTOR = 16  # two passes of a 4x model at most

# FLUX works on multiples of 16 pixels, at most 2048 per side; about one megapixel per image.
FLUX_MULTIPLE = 16
FLUX_MAX_SIDE = 2048
FLUX_SIZES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "1:1": (1024, 1024),
        "16:9": (1344, 768),
        "9:16": (768, 1344),
        "4:3": (1152, 896),
        "3:4": (896, 1152),
        "3:2": (1216, 832),
        "2:3": (832, 1216),
        "21:9": (1536, 640),
    }
)

# Qwen-Image's sizes (its model card's aspect-ratio table, about 1.7 megapixels), each side on a multiple of 16 (the
# card's 1140 for 4:3 and 3:4 becomes 1104: the pipeline packs 2x2 latents of an 8x VAE).
QWEN_IMAGE_SIZES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "1:1": (1328, 1328),
        "16:9": (1664, 928),
        "9:16": (928, 1664),
        "4:3": (1472, 1104),
        "3:4": (1104, 1472),
        "3:2": (1584, 1056),
        "2:3": (1056, 1584),
    }
)


class ModelUnavailable(LookupError):
    """The model does not exist, does not do this task, or this deployment does not offer it."""

    def __init__(self, message: str, *, code: str = "model_unavailable") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@value
class Licence:
    """A model's licence: its id, whether it allows commercial use, and where its text is."""

    id: str
    commercial: bool
    url: str


APACHE_2 = Licence("apache-2.0", True, "https://www.apache.org/licenses/LICENSE-2.0")
MIT = Licence("mit", True, "https://opensource.org/license/mit")
BSD_3 = Licence("bsd-3-clause", True, "https://opensource.org/license/bsd-3-clause")
FLUX_DEV_NC = Licence(
    "flux-1-dev-non-commercial",
    False,
    "https://huggingface.co/black-forest-labs/FLUX.1-dev/blob/main/LICENSE.md",
)


@value
class Serving:
    """How a model is served on its GPU: speed switches, output encoding and the container's reservations.

    The speed switches apply on a CUDA device only where the hardware supports them (fp8 needs compute capability
    8.9, i.e. L40S/H100 and newer); `ATELIER_SPEEDUPS_OFF` turns any of them off without a code change.
    """

    compile: bool = False  # torch.compile of the transformer's repeated blocks (regional compilation)
    fuse_qkv: bool = False  # one fused QKV projection per attention instead of three matmuls
    fp8: bool = False  # torchao float8 weights and activations for the transformer's linear layers
    gpu_dtype: Literal["bfloat16", "float16"] = "bfloat16"
    output_format: OutputFormat = "webp"  # what outputs are encoded as (a request may ask for png)
    tile: int = 0  # upscalers: tile size in input pixels (0 = whole image)
    tile_overlap: int = 0
    gpu_snapshot: bool = True  # snapshot GPU memory too: weights on the GPU, compiled and warmed up, in the snapshot
    memory_mib: int = 8192  # host memory reserved per container (Modal's default is 128 MiB)
    cpu: float = 4.0  # CPU cores reserved per container (Modal's default is 0.125)
    min_containers: int = 0  # warm containers kept even when idle (each costs GPU time)
    max_containers: int = 10  # a cap on GPUs one model may hold at once

    def enabled(self) -> tuple[Speedup, ...]:
        return tuple(name for name in SPEEDUPS if getattr(self, name))


FLUX_SERVING = Serving(compile=True, fuse_qkv=True, fp8=True, memory_mib=49152, cpu=8.0)
# Qwen-Image: a 20B MMDiT (about 41 GB in bf16) and a 7B Qwen2.5-VL text encoder (about 16.6 GB), about 58 GB on an
# 80 GB H100 before fp8 halves the transformer; the rest holds activations of four 1.7 MP images. No fused QKV (its
# attention processor reads the separate projections). Host memory holds every weight once when GPU snapshots are
# off (the weights are copied out of the memory maps before a CPU snapshot): 96 GiB. At most 4 containers: four
# H100s per model is plenty at launch, and it keeps the Postgres connection budget (config/connections.py) with room.
QWEN_IMAGE_SERVING = Serving(compile=True, fp8=True, memory_mib=98304, cpu=8.0, max_containers=4)
# FLUX.2 [klein] 4B: a 4B MMDiT (about 8 GB in bf16) and a Qwen3-4B text encoder (about 8 GB), about 16 GB with the
# VAE: an 80 GB H100 has ample room for four 1 MP images with their reference image in the sequence. Fused QKV works
# on its double-stream blocks (the single-stream blocks are fused by design). Host memory holds every weight once when
# GPU snapshots are off: 32 GiB. At most 4 containers, as Qwen-Image, to keep the Postgres connection budget
# (config/connections.py) within ATELIER_DB_CONNECTION_LIMIT's default of 200.
FLUX2_KLEIN_SERVING = Serving(compile=True, fuse_qkv=True, fp8=True, memory_mib=32768, cpu=8.0, max_containers=4)


@value
class ModelEntry:
    """One model the engine can run. Prices are in credits."""

    id: str
    name: str
    family: Family
    tasks: tuple[Task, ...]
    repo: str
    revision: str
    pipeline: str  # the class the engine instantiates with from_pretrained
    licence: Licence
    gpu: GpuType
    default_steps: int
    default_guidance: float
    # aspect ratio → (width, height); empty for tasks whose size follows the input (upscale, image_to_prompt)
    sizes: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))
    credits_per_image: int = 0
    credits_per_megapixel: int = 0  # upscale: charged on the output's megapixels, rounded up
    max_sequence_length: int = 512
    allow_patterns: tuple[str, ...] = ()  # what `deploy.py weights` downloads; empty = the whole repo
    upscale_factor: int = 0
    serving: Serving = field(default_factory=Serving)
    speed: Speed = "quality"
    controls: tuple[Control, ...] = ()  # request fields beyond the common ones this model accepts
    steps_range: tuple[int, int] = (1, 1)  # the `steps` a request may ask for, both ends included
    guidance_range: tuple[float, float] = (0.0, 0.0)  # the `guidance` a request may ask for, both ends included
    guidance_kind: GuidanceKind = "none"
    negative_cfg_scale: float = 0.0  # "distilled" guidance: the true-CFG scale a negative prompt runs with
    prompt_family: PromptFamily | None = None  # image-to-prompt: the prompt style this model reads best

    def __post_init__(self) -> None:
        unknown = set(self.controls) - set(CONTROLS)
        if unknown:
            raise ValueError(f"{self.id}: unknown controls {sorted(unknown)}")
        low, high = self.steps_range
        if "steps" in self.controls and not 1 <= low <= self.default_steps <= high:
            raise ValueError(f"{self.id}: default_steps must lie in steps_range")
        g_low, g_high = self.guidance_range
        guided = self.guidance_kind != "none" and g_low <= self.default_guidance <= g_high
        if "guidance" in self.controls and not guided:
            raise ValueError(f"{self.id}: a guidance control needs a guidance kind and a default in guidance_range")
        if "negative_prompt" in self.controls and self.guidance_kind == "distilled" and self.negative_cfg_scale <= 1:
            raise ValueError(f"{self.id}: a negative prompt on distilled guidance needs negative_cfg_scale > 1")

    @property
    def commercial(self) -> bool:
        return self.licence.commercial

    @property
    def pinned(self) -> bool:
        return bool(_COMMIT.match(self.revision))

    @property
    def weights_path(self) -> str:
        """Where the pinned snapshot lives, relative to the weights volume: `<repo>/<revision>`."""
        return f"{self.repo}/{self.revision}"

    @property
    def default_aspect_ratio(self) -> str | None:
        return next(iter(self.sizes), None)

    def default_settings(self) -> dict[str, object]:
        """The value each of the model's controls takes when a request leaves it out."""
        defaults: dict[str, object] = {
            "negative_prompt": "",
            "guidance": self.default_guidance,
            "steps": self.default_steps,
            "output_format": self.serving.output_format,
        }
        return {name: defaults[name] for name in self.controls}


MODELS: tuple[ModelEntry, ...] = (
    ModelEntry(
        id="flux-schnell",
        name="FLUX.1 [schnell]",
        family="flux",
        tasks=("text_to_image", "vary"),
        repo="black-forest-labs/FLUX.1-schnell",
        revision="741f7c3ce8b383c54771c7003378a50191e9efe9",
        pipeline="FluxPipeline",
        licence=APACHE_2,
        gpu="H100",
        default_steps=4,
        default_guidance=0.0,
        sizes=FLUX_SIZES,
        credits_per_image=1,
        max_sequence_length=256,
        allow_patterns=("model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"),
        serving=FLUX_SERVING,
        speed="fast",
        # timestep-distilled for 1-4 steps and guidance-free: no guidance, so no negative prompt either
        controls=("steps", "output_format"),
        steps_range=(1, 4),
        prompt_family="flux",
    ),
    ModelEntry(
        id="flux-kontext-dev",
        name="FLUX.1 Kontext [dev]",
        family="flux-kontext",
        tasks=("edit",),
        repo="black-forest-labs/FLUX.1-Kontext-dev",
        revision="24e9dedc4ef646698dc8eb4e18ae2cec3c9fea0d",
        pipeline="FluxKontextPipeline",
        licence=FLUX_DEV_NC,
        gpu="H100",
        default_steps=28,
        default_guidance=2.5,
        sizes=FLUX_SIZES,
        credits_per_image=4,
        allow_patterns=("model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"),
        serving=FLUX_SERVING,
        controls=("negative_prompt", "guidance", "steps", "output_format"),
        steps_range=(1, 50),
        guidance_range=(1.0, 10.0),
        guidance_kind="distilled",
        negative_cfg_scale=2.0,  # FluxKontextPipeline's true_cfg_scale with a negative prompt (each step runs twice)
        prompt_family="flux",
    ),
    ModelEntry(
        id="flux-fill-dev",
        name="FLUX.1 Fill [dev]",
        family="flux-fill",
        tasks=("inpaint",),
        repo="black-forest-labs/FLUX.1-Fill-dev",
        revision="358293da0354175698b67ec8299acf928313a78a",
        pipeline="FluxFillPipeline",
        licence=FLUX_DEV_NC,
        gpu="H100",
        default_steps=28,
        default_guidance=30.0,
        sizes=FLUX_SIZES,
        credits_per_image=4,
        allow_patterns=("model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"),
        serving=FLUX_SERVING,
        # FluxFillPipeline takes no negative prompt
        controls=("guidance", "steps", "output_format"),
        steps_range=(1, 50),
        guidance_range=(1.0, 50.0),
        guidance_kind="distilled",
        prompt_family="flux",
    ),
    ModelEntry(
        id="qwen-image",
        name="Qwen-Image",
        family="qwen-image",
        # Inpainting runs diffusers' QwenImageInpaintPipeline over the same weights (from_pipe): one model in memory.
        tasks=("text_to_image", "inpaint"),
        repo="Qwen/Qwen-Image",
        revision="main",  # locked on the volume by `deploy.py weights`
        pipeline="QwenImagePipeline",
        # The model card (https://huggingface.co/Qwen/Qwen-Image) declares `license: apache-2.0`.
        licence=APACHE_2,
        gpu="H100",
        default_steps=50,  # the model card's settings: 50 steps, true classifier-free guidance 4.0
        default_guidance=4.0,
        sizes=QWEN_IMAGE_SIZES,
        # 50 steps x 2 passes (true CFG) of a 20B transformer at 1.7 MP: several times a FLUX.1 [dev] image.
        credits_per_image=8,
        allow_patterns=("model_index.json", "*/*.json", "*/*.txt", "*/*.safetensors"),
        serving=QWEN_IMAGE_SERVING,
        speed="quality",
        controls=("negative_prompt", "guidance", "steps", "output_format"),
        steps_range=(1, 100),
        guidance_range=(1.0, 10.0),
        guidance_kind="cfg",
        prompt_family="flux",  # natural-language prompts, as FLUX reads them
    ),
    ModelEntry(
        id="flux2-klein-4b",
        name="FLUX.2 [klein] 4B",
        family="flux2-klein",
        # One pipeline for create and edit (an edit passes the reference image, whose latents join the transformer's
        # sequence); inpainting runs diffusers' Flux2KleinInpaintPipeline over the same weights (from_pipe).
        tasks=("text_to_image", "edit", "inpaint"),
        repo="black-forest-labs/FLUX.2-klein-4B",
        revision="main",  # locked on the volume by `deploy.py weights`
        pipeline="Flux2KleinPipeline",
        # Apache-2.0 as Black Forest Labs' model overview states it (README of github.com/black-forest-labs/flux2 at
        # f72e0dc36402d814546ed8f1331598bcc3d38735: "FLUX.2 [klein] 4B ... apache-2.0"; the 9B variants are under the
        # FLUX Non-Commercial License and are not used here). The model card on the hub could not be read at a
        # pinned commit from where this entry was written: read it at the commit `deploy.py weights` locks.
        licence=APACHE_2,
        gpu="H100",
        # Step- and guidance-distilled (Black Forest Labs' overview): 4 steps, no guidance. The registry passes the
        # published guidance 1.0, at which Flux2KleinPipeline runs no classifier-free pass whether or not the
        # checkpoint's model_index.json sets `is_distilled`, and offers no guidance control.
        default_steps=4,
        default_guidance=1.0,
        sizes=FLUX_SIZES,
        # 4 steps of a 4B transformer: about FLUX.1 [schnell]'s compute for a create, and for an edit with the
        # reference image's tokens in the sequence (twice the image tokens of a third of the parameters).
        credits_per_image=1,
        allow_patterns=("model_index.json", "*/*.json", "*/*.txt", "*/*.jinja", "*/*.safetensors"),
        serving=FLUX2_KLEIN_SERVING,
        speed="fast",
        # distilled: no guidance, no negative prompt (the pipeline takes none); steps up to the distilled 4
        controls=("steps", "output_format"),
        steps_range=(1, 4),
        prompt_family="flux",  # natural-language prompts, as FLUX.1 reads them
    ),
    ModelEntry(
        id="real-esrgan-x4",
        name="Real-ESRGAN 4x",
        family="esrgan",
        tasks=("upscale",),
        repo="ai-forever/Real-ESRGAN",
        revision="main",  # locked on the volume by `deploy.py weights`
        pipeline="RRDBNet",
        licence=BSD_3,
        gpu="L40S",
        default_steps=1,
        default_guidance=0.0,
        credits_per_megapixel=1,
        allow_patterns=("RealESRGAN_x4.pth",),
        upscale_factor=4,
        # fp16 tiles of 512 px with 32 px of context: memory no longer grows with the image; JPEG encodes a
        # 4096² output in a fraction of WebP's time.
        serving=Serving(gpu_dtype="float16", output_format="jpeg", tile=512, tile_overlap=32, memory_mib=8192),
        speed="fast",
        controls=("output_format",),
    ),
    ModelEntry(
        id="florence-2-base",
        name="Florence-2 base",
        family="florence2",
        tasks=("image_to_prompt",),
        repo="florence-community/Florence-2-base",
        revision="main",  # locked on the volume by `deploy.py weights`
        pipeline="Florence2ForConditionalGeneration",
        licence=MIT,
        gpu="L4",
        default_steps=1,
        default_guidance=0.0,
        credits_per_image=1,
        serving=Serving(memory_mib=8192, cpu=4.0),
        speed="fast",
    ),
)

BY_ID: Mapping[str, ModelEntry] = MappingProxyType({entry.id: entry for entry in MODELS})
DEFAULT_MODEL: Mapping[Task, str] = MappingProxyType(
    {
        "text_to_image": "flux-schnell",
        "edit": "flux-kontext-dev",
        "inpaint": "flux-fill-dev",
        "upscale": "real-esrgan-x4",
        "image_to_prompt": "florence-2-base",
        "vary": "flux-schnell",
    }
)


def get_model(model_id: str) -> ModelEntry:
    try:
        return BY_ID[model_id]
    except KeyError:
        raise ModelUnavailable(f"unknown model {model_id!r}", code="unknown_model") from None


class Licensing(Protocol):
    """What the licence gate reads from the settings (config.settings.Settings has both). A protocol, so this
    registry never imports the settings module, which imports the registry to check its values."""

    @property
    def is_paid(self) -> bool: ...

    @property
    def noncommercial_licensed(self) -> list[str]: ...

    @property
    def default_models(self) -> Mapping[str, str]: ...


def licensed_ids(settings: Licensing) -> frozenset[str]:
    return frozenset(settings.noncommercial_licensed)


def refusal(entry: ModelEntry, settings: Licensing) -> str | None:
    """Why this deployment may not offer `entry`, or None when it may."""
    if entry.commercial or not settings.is_paid:
        return None
    declared = licensed_ids(settings)
    if entry.id in declared or entry.licence.id in declared:
        return None
    return (
        f"{entry.id} is under the {entry.licence.id} licence, which forbids commercial use; a paid deployment "
        f"offers it only when ATELIER_NONCOMMERCIAL_LICENSED names {entry.id!r} or {entry.licence.id!r}"
    )


def offered_models(settings: Licensing) -> tuple[ModelEntry, ...]:
    """The models this deployment offers: every model, less non-commercial ones a paid deployment holds no licence for.

    Unknown ids in ATELIER_NONCOMMERCIAL_LICENSED raise ValueError: a typo fails at startup, not by hiding a model.
    """
    known = set(BY_ID) | {entry.licence.id for entry in MODELS}
    unknown = sorted(licensed_ids(settings) - known)
    if unknown:
        raise ValueError(f"ATELIER_NONCOMMERCIAL_LICENSED names unknown models or licences: {', '.join(unknown)}")
    return tuple(entry for entry in MODELS if refusal(entry, settings) is None)


def default_model_id(settings: Licensing, task: Task) -> str:
    """The task's default model here: the operator's choice (`ATELIER_DEFAULT_MODELS`), else DEFAULT_MODEL, else
    (when this deployment may not offer DEFAULT_MODEL's model: a paid one without its licence) the first model in
    registry order that does the task and may be offered, as GET /v1/models names it. A task with no such model
    keeps DEFAULT_MODEL's, which `model_for` then refuses."""
    chosen = settings.default_models.get(task)
    if chosen:
        return chosen
    default = DEFAULT_MODEL[task]
    if refusal(BY_ID[default], settings) is None:
        return default
    offered = (entry.id for entry in MODELS if task in entry.tasks and refusal(entry, settings) is None)
    return next(offered, default)


def check_default_models(settings: Licensing) -> None:
    """`ATELIER_DEFAULT_MODELS` names known tasks, models that do them, and models this deployment may offer.

    Raises ValueError naming the first bad pair: a wrong default fails at startup, not on a person's first job."""
    for task, model_id in settings.default_models.items():
        if task not in TASKS:
            raise ValueError(f"ATELIER_DEFAULT_MODELS: unknown task {task!r} (tasks: {', '.join(TASKS)})")
        entry = BY_ID.get(model_id)
        if entry is None:
            raise ValueError(f"ATELIER_DEFAULT_MODELS: unknown model {model_id!r} for {task}")
        if task not in entry.tasks:
            raise ValueError(f"ATELIER_DEFAULT_MODELS: {model_id} does not do {task}")
        reason = refusal(entry, settings)
        if reason is not None:
            raise ValueError(f"ATELIER_DEFAULT_MODELS: {reason}")


def model_for(settings: Licensing, task: Task, model_id: str | None = None) -> ModelEntry:
    """The model that runs `task` here: the one asked for, or the task's default. Raises ModelUnavailable."""
    entry = get_model(model_id or default_model_id(settings, task))
    if task not in entry.tasks:
        raise ModelUnavailable(f"{entry.id} does not do {task}", code="model_task_mismatch")
    reason = refusal(entry, settings)
    if reason is not None:
        raise ModelUnavailable(reason, code="model_not_licensed")
    return entry


def prompt_family(target: str) -> PromptFamily:
    """The prompt style image-to-prompt writes for `target`: a family, or a registry model's own. Raises
    ModelUnavailable (`unknown_target_model`) for anything else, or a model that reads no prompt."""
    if target in PROMPT_FAMILIES:
        return target
    entry = BY_ID.get(target)
    if entry is None or entry.prompt_family is None:
        known = ", ".join((*PROMPT_FAMILIES, *(e.id for e in MODELS if e.prompt_family)))
        raise ModelUnavailable(
            f"target_model must be a model that takes a prompt or a family ({known})", code="unknown_target_model"
        )
    return entry.prompt_family


def select_for_download(model_ids: list[str] | None) -> tuple[ModelEntry, ...]:
    """The entries `deploy.py weights` downloads (all when None); refuses unknown ids. Branches are allowed: the
    download resolves them to a commit and locks it."""
    unknown = sorted(set(model_ids or ()) - set(BY_ID))
    if unknown:
        raise ValueError(f"unknown models: {', '.join(unknown)}")
    return tuple(BY_ID[m] for m in dict.fromkeys(model_ids)) if model_ids else MODELS


def output_size(entry: ModelEntry, aspect_ratio: str | None) -> tuple[int, int]:
    """(width, height) for an aspect ratio the model allows; None picks the model's first (1:1)."""
    ratio = aspect_ratio or entry.default_aspect_ratio
    if ratio is None or ratio not in entry.sizes:
        allowed = ", ".join(entry.sizes) or "none"
        raise ModelUnavailable(
            f"{entry.id} does not offer aspect ratio {ratio!r} (allowed: {allowed})", code="bad_size"
        )
    return entry.sizes[ratio]


def upscale_size(width: int, height: int, target_long_side: int) -> tuple[int, int]:
    """The output size of upscaling width x height so its long side is `target_long_side` (aspect kept).

    The target must be larger than the input's long side, at most MAX_UPSCALE_LONG_SIDE and at most
    MAX_UPSCALE_FACTOR times the input; the short side is rounded to the nearest pixel (at least 1).
    """
    if width <= 0 or height <= 0:
        raise ValueError("the image has no pixels")
    long_side = max(width, height)
    if not long_side < target_long_side <= MAX_UPSCALE_LONG_SIDE:
        raise ValueError(
            f"target long side must be above the image's {long_side} px and at most {MAX_UPSCALE_LONG_SIDE} px"
        )
    if target_long_side > long_side * MAX_UPSCALE_FACTOR:
        raise ValueError(f"upscaling is limited to {MAX_UPSCALE_FACTOR}x the input's long side")
    scale = target_long_side / long_side
    if width >= height:
        return target_long_side, max(1, round(height * scale))
    return max(1, round(width * scale)), target_long_side


def upscale_passes(entry: ModelEntry, long_side: int, target_long_side: int) -> int:
    """How many passes of the model's fixed factor reach the target (the last one is resized down exactly)."""
    factor = entry.upscale_factor or 4
    return max(1, math.ceil(math.log(target_long_side / long_side, factor) - 1e-9))


def price(entry: ModelEntry, task: Task, count: int, width: int, height: int) -> int:
    """Credits for one job: per image for generation and captioning, per started output megapixel for upscale."""
    if task not in entry.tasks:
        raise ModelUnavailable(f"{entry.id} does not do {task}", code="model_task_mismatch")
    if not 1 <= count <= 4:
        raise ValueError("count must be between 1 and 4")
    if task == "upscale":
        megapixels = math.ceil(width * height / 1_000_000)
        return count * max(1, megapixels) * entry.credits_per_megapixel
    return count * entry.credits_per_image


def follow_input_size(width: int, height: int) -> tuple[int, int]:
    """The size FLUX renders an edit or variation at when it follows its input: the input's size scaled down to
    at most FLUX_MAX_SIDE on the long side, each side rounded down to a multiple of 16 (at least 16)."""
    scale = min(1.0, FLUX_MAX_SIDE / max(width, height, 1))
    return (
        max(FLUX_MULTIPLE, int(width * scale) // FLUX_MULTIPLE * FLUX_MULTIPLE),
        max(FLUX_MULTIPLE, int(height * scale) // FLUX_MULTIPLE * FLUX_MULTIPLE),
    )


def to_long_side(width: int, height: int, long_side: int) -> tuple[int, int]:
    """width x height scaled so its long side is `long_side`, the aspect kept (short side rounded, at least 1)."""
    if width <= 0 or height <= 0:
        raise ValueError("the image has no pixels")
    scale = long_side / max(width, height)
    if width >= height:
        return long_side, max(1, round(height * scale))
    return max(1, round(width * scale)), long_side


def four_k_size(width: int, height: int) -> tuple[int, int]:
    """The final size of a "4k" request rendered at width x height: FOUR_K_LONG_SIDE on the long side (the
    upscaler takes as many passes as it needs; a 4k price depends only on the aspect ratio)."""
    return to_long_side(width, height, FOUR_K_LONG_SIDE)


def job_price(
    entry: ModelEntry,
    task: Task,
    count: int,
    width: int,
    height: int,
    *,
    size: Size = "standard",
    upscaler: ModelEntry | None = None,
) -> int:
    """Credits for one job as submitted: the render (`price`), plus for "4k" the upscale of each image from its
    rendered size (width x height) to FOUR_K_LONG_SIDE, priced as the upscale task prices it. One hold covers both."""
    credits = price(entry, task, count, width, height)
    if size == "4k":
        upscale_with = upscaler or get_model(DEFAULT_MODEL["upscale"])
        credits += count * price(upscale_with, "upscale", 1, *four_k_size(width, height))
    return credits


def check_speedups_off(items: list[str]) -> list[str]:
    """Validate `ATELIER_SPEEDUPS_OFF` items (`fp8`, or `flux-schnell:compile`); a typo fails at startup."""
    for item in items:
        model_id, _, name = item.rpartition(":")
        if name not in SPEEDUPS or (model_id and model_id not in BY_ID):
            raise ValueError(
                f"ATELIER_SPEEDUPS_OFF: {item!r} is not one of {', '.join(SPEEDUPS)}, optionally prefixed by a model id"
            )
    return items


def speedups(entry: ModelEntry, off: list[str] | tuple[str, ...] = ()) -> tuple[Speedup, ...]:
    """The speed-ups the registry enables for `entry`, less those `ATELIER_SPEEDUPS_OFF` turns off."""
    return tuple(name for name in entry.serving.enabled() if name not in off and f"{entry.id}:{name}" not in off)
