"""The generation engine: one pipeline per registry entry, loaded once per process, rendering one request at a time.

No Modal here: the same code runs inside the GPU classes (`functions/generation/gpu.py`, weights from the volume)
and in-process on the CPU with the tiny offline models (`functions/generation/tiny.py`), locally and in tests.

    engine = engine_for(get_settings())          # tiny models locally, the weights volume in production
    result = engine.render(RenderRequest(task="text_to_image", model="flux-schnell", prompt="a fox", width=1024,
                                         height=1024, seed=7), on_progress=print, should_cancel=lambda: False)

Outputs are encoded in the format the registry names for the model (`Serving.output_format`: WebP for FLUX, JPEG
for the 4096² upscales, where WebP would cost seconds of CPU), several images of one job in parallel threads
(Pillow releases the interpreter lock while it encodes); `output_format="png"` gives lossless PNG for small images
that must be exact.

On a GPU the engine also prepares each model for speed (`prepare`: fused QKV, fp8, regional compile, per the
registry) and renders every registered shape once (`warm_up`) so nothing compiles during a user's job; a GPU
container does both before its memory snapshot (`functions/generation/serving.py`).
"""

from __future__ import annotations

import gc
import io
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, ImageOps, UnidentifiedImageError

from config.models import (
    FLUX_MAX_SIDE,
    FLUX_MULTIPLE,
    MAX_UPSCALE_LONG_SIDE,
    VARY_STRENGTHS,
    ModelEntry,
    ModelUnavailable,
    OutputFormat,
    PromptFamily,
    Speedup,
    Task,
    follow_input_size,
    get_model,
    output_size,
    prompt_family,
    speedups,
    to_long_side,
    upscale_passes,
    upscale_size,
)
from config.settings import Settings
from config.values import value
from functions.generation.prompting import CAPTION_TASK, Region

KLEIN_MIN_REFERENCE_SIDE = 64  # Flux2KleinPipeline refuses a reference image with a side under 64 px
QWEN_NEGATIVE_PROMPT = " "  # Qwen-Image's published usage: true CFG against a blank negative prompt
CONTENT_TYPES: dict[str, str] = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}
WEBP_QUALITY = 90
WEBP_METHOD = 2  # libwebp effort 0-6: 2 encodes ~2x faster than 4 for a few percent more bytes at the same quality
JPEG_QUALITY = 92
MAX_INPUT_PIXELS = 4096 * 4096
MAX_SIDE = FLUX_MAX_SIDE
CAPTION_MAX_NEW_TOKENS = 1024  # Florence-2's own limit (its generation config's max_length is 1025 with the start)
CAPTION_MIN_NEW_TOKENS = 4
CAPTION_DEFAULT_BEAMS = 3  # Florence-2's published usage, when a checkpoint's generation config names no beam count

ProgressFn = Callable[[float], None]
StepFn = Callable[[int, int], None]  # (step, steps): the step just done (1-based) of how many in all
CancelFn = Callable[[], bool]


class RenderFailed(Exception):
    """A render could not produce its outputs; `code` is stable and safe to show, `message` is for humans."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[RenderFailed], tuple[str, str]]:
        return (RenderFailed, (self.code, self.message))  # survives pickling across Modal calls


class RenderCanceled(Exception):
    """The caller asked to stop; the render stopped between two steps and produced nothing."""


@value
class RenderRequest:
    """What to render. Images are the encoded bytes of the inputs (any format Pillow reads)."""

    task: Task
    model: str
    prompt: str = ""
    image: bytes | None = None  # edit, inpaint, upscale, image_to_prompt, vary
    mask: bytes | None = None  # inpaint: white = repaint, black = keep
    width: int | None = None  # text_to_image, edit, inpaint (from the aspect ratio); edit/inpaint default: input's
    height: int | None = None
    target_long_side: int | None = None  # upscale, at most 4096
    count: int = 1  # 1-4 images (upscale and image_to_prompt: 1)
    seed: int | None = None  # None → a random seed, recorded in the result
    steps: int | None = None  # None → the registry default
    guidance: float | None = None
    negative_prompt: str | None = None  # models with "negative_prompt" in their controls
    target_model: str | None = None  # image_to_prompt: the model the prompt is for (recorded)
    output_format: OutputFormat | None = None  # None → the registry's format for the model
    strength: float | None = None  # vary: the img2img strength (None → "subtle")
    # "4k": after the render, each image is upscaled in the same render call to this long side with upscale_model
    upscale_long_side: int | None = None
    upscale_model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderRequest:
        return cls(**data)


@value
class RenderedImage:
    data: bytes
    width: int
    height: int
    content_type: str


@value
class RenderResult:
    """What a render produced, with the seed and every parameter used (defaults filled in)."""

    task: Task
    model: str
    seed: int
    images: tuple[RenderedImage, ...] = ()
    prompt_text: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderResult:
        images = tuple(RenderedImage(**image) for image in data.get("images", ()))
        return cls(**{**data, "images": images})


# -- where weights come from -------------------------------------------------------------------------------------


class ModelSource(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def size_divisor(self) -> int: ...

    @property
    def default_steps_cap(self) -> int: ...

    def path_for(self, entry: ModelEntry) -> Path: ...


@value
class TinySource:
    """Tiny random models built in code under `root` (default: ATELIER_DATA_DIR/models/tiny); never downloads."""

    root: Path
    kind: str = "tiny"
    size_divisor: int = 8  # tiny renders are 1/8 of the production size per side (1:1 → 128x128), still on 16 px
    default_steps_cap: int = 4  # without an explicit `steps`, tiny models run at most 4 (the images are noise)

    def path_for(self, entry: ModelEntry) -> Path:
        from functions.generation.tiny import ensure_tiny

        return ensure_tiny(entry.family, self.root)


@value
class VolumeSource:
    """Snapshots on the weights volume, `<root>/<repo>/<commit>`, filled by `deploy.py weights`: the pinned commit
    of config/models.py, else the one the volume's lock records (shared/weights.py); never a branch."""

    root: Path
    kind: str = "volume"
    size_divisor: int = 1
    default_steps_cap: int = 1000

    def path_for(self, entry: ModelEntry) -> Path:
        from shared.weights import locked_commit, read_lock

        commit = locked_commit(entry, {} if entry.pinned else read_lock(self.root))
        if commit is None:
            raise RenderFailed(
                "model_unpinned", f"{entry.id} is neither pinned nor locked; run deploy.py weights --model {entry.id}"
            )
        path = self.root / entry.repo / commit
        if not path.is_dir():
            raise RenderFailed(
                "weights_missing", f"weights for {entry.id} are not on the volume; run deploy.py weights"
            )
        return path


def source_from_settings(settings: Settings) -> ModelSource:
    if settings.model_source == "volume":
        return VolumeSource(settings.weights_dir)
    return TinySource(settings.data_dir / "models" / "tiny")


def engine_for(settings: Settings) -> Engine:
    """The engine the settings describe: tiny offline models by default, the weights volume in production."""
    return Engine(source_from_settings(settings), speedups_off=tuple(settings.speedups_off))


# -- loading -----------------------------------------------------------------------------------------------------

_CACHE: dict[tuple[str, str, str], Any] = {}
_CACHE_LOCK = threading.Lock()


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class _Loaded:
    entry: ModelEntry
    model: Any
    processor: Any = None
    variants: dict[str, Any] = field(default_factory=dict)  # other pipelines over the same weights (from_pipe)
    speedups: tuple[Speedup, ...] | None = None  # what `prepare` applied; None until it ran
    skipped: dict[str, str] = field(default_factory=dict)  # speed-ups wanted but not applied, with the reason


def _load(entry: ModelEntry, path: Path, dtype: Any) -> _Loaded:
    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if entry.family == "esrgan":
        from functions.generation.esrgan import RRDBNet

        return _Loaded(entry, RRDBNet.from_pretrained(path, torch_dtype=dtype))
    if entry.family == "florence2":
        from transformers import AutoProcessor, Florence2ForConditionalGeneration

        model = Florence2ForConditionalGeneration.from_pretrained(str(path), dtype=dtype, local_files_only=True)
        processor = AutoProcessor.from_pretrained(str(path), local_files_only=True)  # type: ignore[no-untyped-call]
        return _Loaded(entry, model.eval(), processor)  # type: ignore[no-untyped-call]
    import diffusers

    pipeline_class = getattr(diffusers, entry.pipeline)
    pipe = pipeline_class.from_pretrained(str(path), dtype=dtype, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return _Loaded(entry, pipe)


# -- the engine --------------------------------------------------------------------------------------------------


class Engine:
    """Loads each model once per process (shared by every Engine over the same source) and renders requests.

    `device` defaults to CUDA when present, else the CPU. `dtype` ("bfloat16" | "float16" | "float32") applies to
    every model; None means each model's serving dtype (`Serving.gpu_dtype`) on a GPU and float32 on the CPU, and
    "serving" means the serving dtype wherever the weights are (a GPU container loading to the CPU before its
    memory snapshot). `speedups_off` lists speed-ups to skip (`ATELIER_SPEEDUPS_OFF`).
    """

    def __init__(
        self,
        source: ModelSource,
        *,
        device: str | None = None,
        dtype: str | None = None,
        speedups_off: tuple[str, ...] = (),
        compile_backend: str = "inductor",
    ) -> None:
        self.source = source
        self.device = device or _default_device()
        self.dtype_name = dtype
        # Fixed at construction, so moving to another device later does not change which weights are cached.
        self._serving_dtypes = dtype == "serving" or (dtype is None and self.device.startswith("cuda"))
        self.speedups_off = speedups_off
        self.compile_backend = compile_backend
        self._keys: set[tuple[str, str, str]] = set()
        self._render_lock = threading.Lock()

    def dtype_for(self, entry: ModelEntry) -> str:
        if self._serving_dtypes:
            return entry.serving.gpu_dtype
        return self.dtype_name or "float32"

    def _key(self, entry: ModelEntry) -> tuple[str, str, str]:
        return (f"{self.source.kind}:{self.dtype_for(entry)}", str(getattr(self.source, "root", "")), entry.id)

    def load(self, model_id: str) -> _Loaded:
        """The model, loaded from the source on first use and cached for the process."""
        import torch

        entry = _entry(model_id)
        key = self._key(entry)
        with _CACHE_LOCK:
            loaded = _CACHE.get(key)
            if loaded is None:
                path = self.source.path_for(entry)
                dtype = getattr(torch, self.dtype_for(entry))
                try:
                    loaded = _load(entry, path, dtype)
                except Exception as exc:  # any loader error (missing file, corrupt safetensors, bad config)
                    raise RenderFailed(
                        "model_load_failed", f"{entry.id} could not be loaded: {type(exc).__name__}"
                    ) from exc
                if self.device != "cpu":
                    loaded.model.to(self.device)
                _CACHE[key] = loaded
            self._keys.add(key)
            return loaded

    def materialize(self, model_id: str) -> None:
        """Copy every weight of a loaded model into memory this process owns.

        safetensors loads by memory-mapping the file, and a bf16 checkpoint loaded as bf16 keeps pointing into the
        mapping (diffusers' `disable_mmap` covers only its own modules, not the text encoders). A memory snapshot
        of mapped pages would read them back from the volume on every restore; owned copies are in the snapshot.
        """
        loaded = self.load(model_id)
        for module in _modules(loaded.model):
            for tensor in (*module.parameters(), *module.buffers()):
                tensor.data = tensor.data.clone()
        gc.collect()  # drop the last references to the mapped storages, which unmaps the files

    def prepare(self, model_id: str) -> _Loaded:
        """Apply the registry's speed-ups to a loaded model on this engine's device, once (see speedups.py)."""
        from functions.generation.speedups import apply_speedups

        loaded = self.load(model_id)
        if loaded.speedups is None:
            wanted = speedups(loaded.entry, self.speedups_off)
            if loaded.entry.family.startswith(("flux", "qwen")) and wanted:
                report = apply_speedups(loaded.model, wanted, self.device, compile_backend=self.compile_backend)
                loaded.speedups = tuple(report.applied)
                loaded.skipped = {str(name): reason for name, reason in report.skipped.items()}
            else:
                loaded.speedups = ()
        return loaded

    def warm_up(self, model_id: str) -> int:
        """Render every shape the registry allows once (each size × each count, one step), so a compiled model
        has compiled for all of them before a snapshot; returns the number of renders."""
        entry = _entry(model_id)
        renders = 0
        for request in warm_up_requests(entry, self.source.size_divisor):
            self.render(request)
            renders += 1
        return renders

    def output_size(self, model_id: str, aspect_ratio: str | None) -> tuple[int, int]:
        """(width, height) this engine renders for an aspect ratio: the registry's size, scaled down for tiny models."""
        entry = _entry(model_id)
        try:
            width, height = output_size(entry, aspect_ratio)
        except ModelUnavailable as exc:
            raise RenderFailed(exc.code, exc.message) from exc
        return scaled_size(width, height, self.source.size_divisor)

    def to(self, device: str) -> None:
        """Move every model this engine loaded to `device` (after a memory snapshot: "cuda")."""
        self.device = device
        with _CACHE_LOCK:
            for key in self._keys:
                _CACHE[key].model.to(device)

    def render(
        self,
        request: RenderRequest,
        *,
        on_progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
        on_step: StepFn | None = None,
    ) -> RenderResult:
        """Render one request. Raises RenderCanceled when `should_cancel` turns true between steps, RenderFailed
        (with a stable code) for bad inputs or a failing pipeline. `on_step(step, steps)` hears each step done
        (denoising steps, then a 4k render's upscale passes), before the progress fraction it implies."""
        progress = _Progress(on_progress or (lambda _fraction: None), on_step)
        cancel = should_cancel or (lambda: False)
        entry = _entry(request.model)
        if request.task not in entry.tasks:
            raise RenderFailed("model_task_mismatch", f"{entry.id} does not do {request.task}")
        if not 1 <= request.count <= 4:
            raise RenderFailed("invalid_count", "count must be between 1 and 4")
        seed = request.seed if request.seed is not None else secrets.randbelow(2**32)
        if not 0 <= seed < 2**64:
            raise RenderFailed("invalid_seed", "seed must be between 0 and 2**64 - 1")
        loaded = self.load(entry.id)
        started = time.perf_counter()
        with self._render_lock:  # one render at a time per engine (one job at a time per GPU)
            if cancel():
                raise RenderCanceled
            try:
                result = self._dispatch(loaded, request, seed, progress, cancel)
            except (RenderCanceled, RenderFailed):
                raise
            except Exception as exc:
                raise RenderFailed(_error_code(exc), f"{entry.id} failed: {type(exc).__name__}") from exc
        return RenderResult(
            task=result.task,
            model=result.model,
            seed=seed,
            images=result.images,
            prompt_text=result.prompt_text,
            parameters=result.parameters,
            seconds=round(time.perf_counter() - started, 4),
        )

    def _dispatch(
        self, loaded: _Loaded, request: RenderRequest, seed: int, progress: _Progress, cancel: CancelFn
    ) -> RenderResult:
        task = request.task
        if task == "upscale":
            return self._upscale(loaded, request, seed, progress, cancel)
        if task == "image_to_prompt":
            return self._caption(loaded, request, seed, progress, cancel)
        if request.upscale_long_side is not None:
            return self._diffuse_4k(loaded, request, seed, progress, cancel)
        return self._diffuse(loaded, request, seed, progress, cancel)

    # -- FLUX text_to_image / edit / inpaint ---------------------------------------------------------------------

    def _diffuse(
        self, loaded: _Loaded, request: RenderRequest, seed: int, progress: _Progress, cancel: CancelFn
    ) -> RenderResult:
        images, parameters = self._diffuse_images(loaded, request, seed, progress, cancel, extra_steps=0)
        output_format = request.output_format or loaded.entry.serving.output_format
        encoded = encode_images(images, output_format)
        progress(1.0)
        return RenderResult(
            task=request.task,
            model=loaded.entry.id,
            seed=seed,
            images=encoded,
            parameters={**parameters, "output_format": output_format},
        )

    def _diffuse_images(
        self,
        loaded: _Loaded,
        request: RenderRequest,
        seed: int,
        progress: _Progress,
        cancel: CancelFn,
        *,
        extra_steps: int,
    ) -> tuple[list[Image.Image], dict[str, Any]]:
        """Run the FLUX pipeline for text_to_image, edit, inpaint or vary; `extra_steps` are steps that follow in
        the same render (a 4k job's upscale passes), counted in the steps reported."""
        import torch

        entry = loaded.entry
        if not request.prompt.strip():
            raise RenderFailed("missing_prompt", f"{request.task} needs a prompt")
        source: Image.Image | None = None
        if request.task in ("edit", "inpaint", "vary"):
            source = _decode(request.image, "image")
        width, height = _flux_size(request, source)
        steps = request.steps if request.steps is not None else min(entry.default_steps, self.source.default_steps_cap)
        guidance = request.guidance if request.guidance is not None else entry.default_guidance
        if not 1 <= steps <= 100:
            raise RenderFailed("invalid_steps", "steps must be between 1 and 100")
        strength = request.strength if request.strength is not None else VARY_STRENGTHS["subtle"]
        if request.task == "vary" and not 0.0 < strength <= 1.0:
            raise RenderFailed("invalid_strength", "strength must be above 0 and at most 1")

        def on_step(pipe: Any, index: int, _timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            # img2img runs only the last `strength` part of the schedule: the pipeline knows how many steps that is.
            total = int(getattr(pipe, "num_timesteps", 0) or steps)
            progress.step(index + 1, total + extra_steps)
            if cancel():
                raise RenderCanceled
            return {}

        kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "width": width,
            "height": height,
            "num_inference_steps": steps,
            **guidance_arguments(entry, guidance, request.negative_prompt),
            "num_images_per_prompt": request.count,
            "generator": torch.Generator(device="cpu").manual_seed(seed),
            "max_sequence_length": entry.max_sequence_length,
            "callback_on_step_end": on_step,
            "output_type": "pil",
        }
        pipeline = _task_pipeline(
            loaded, request, kwargs, source=source, size=(width, height), guidance=guidance, strength=strength
        )
        with torch.inference_mode():
            images = list(pipeline(**kwargs).images)
        parameters: dict[str, Any] = {
            "width": width,
            "height": height,
            "steps": steps,
            "guidance": guidance,
            "count": request.count,
            "seed": seed,
        }
        if request.negative_prompt:
            parameters["negative_prompt"] = True  # that one was used; the text itself stays with the job
        if request.task == "vary":
            parameters["strength"] = strength
        return images, parameters

    def _diffuse_4k(
        self, loaded: _Loaded, request: RenderRequest, seed: int, progress: _Progress, cancel: CancelFn
    ) -> RenderResult:
        """Render, then upscale every image to `upscale_long_side` in the same call: one result, the intermediate
        render never leaves this function. Encoded as the upscaler's format (JPEG: a 4096² WebP costs seconds)."""
        target = request.upscale_long_side
        if target is None or request.upscale_model is None:
            raise RenderFailed("invalid_size", "a 4k render names its upscale model and long side")
        upscaler = self.load(request.upscale_model)
        if "upscale" not in upscaler.entry.tasks:
            raise RenderFailed("model_task_mismatch", f"{upscaler.entry.id} does not upscale")
        source = _decode(request.image, "image") if request.task in ("edit", "vary") else None
        width, height = _flux_size(request, source)
        if target <= max(width, height):
            raise RenderFailed(
                "invalid_size", f"a 4k render's long side must be above the render's {max(width, height)}"
            )
        out_w, out_h = to_long_side(width, height, target)
        passes = upscale_passes(upscaler.entry, max(width, height), target)
        extra = request.count * passes
        images, parameters = self._diffuse_images(loaded, request, seed, progress, cancel, extra_steps=extra)
        done = progress.last_step or 0  # the denoising steps the pipeline ran
        upscaled: list[Image.Image] = []
        for number, image in enumerate(images):
            first = done + number * passes

            def step(index: int, first: int = first) -> None:
                progress.step(first + index, done + extra)

            upscaled.append(
                self._upscale_image(upscaler, image, (out_w, out_h), passes=passes, step=step, cancel=cancel)
            )
        output_format = request.output_format or upscaler.entry.serving.output_format
        encoded = encode_images(upscaled, output_format)
        progress(1.0)
        return RenderResult(
            task=request.task,
            model=loaded.entry.id,
            seed=seed,
            images=encoded,
            parameters={
                **parameters,
                "size": "4k",
                "render_width": width,
                "render_height": height,
                "width": out_w,
                "height": out_h,
                "upscale_model": upscaler.entry.id,
                "passes": passes,
                "output_format": output_format,
            },
        )

    # -- upscale ----------------------------------------------------------------------------------------------------

    def _upscale(
        self, loaded: _Loaded, request: RenderRequest, seed: int, progress: _Progress, cancel: CancelFn
    ) -> RenderResult:
        if request.count != 1:
            raise RenderFailed("invalid_count", "upscale makes one image")
        source = _decode(request.image, "image")
        target = request.target_long_side or MAX_UPSCALE_LONG_SIDE
        try:
            out_w, out_h = upscale_size(source.width, source.height, target)
        except ValueError as exc:
            raise RenderFailed("invalid_size", str(exc)) from exc
        entry = loaded.entry
        passes = upscale_passes(entry, max(source.size), target)

        def step(index: int) -> None:
            progress.step(index, passes + 1)  # the last part: back to 8 bits and encoded

        image = self._upscale_image(loaded, source, (out_w, out_h), passes=passes, step=step, cancel=cancel)
        output_format = request.output_format or entry.serving.output_format
        encoded = encode_images([image], output_format)
        progress(1.0)
        return RenderResult(
            task="upscale",
            model=loaded.entry.id,
            seed=seed,
            images=encoded,
            parameters={
                "input_width": source.width,
                "input_height": source.height,
                "target_long_side": target,
                "width": out_w,
                "height": out_h,
                "passes": passes,
                "tile": entry.serving.tile,
                "output_format": output_format,
            },
        )

    def _upscale_image(
        self,
        loaded: _Loaded,
        source: Image.Image,
        size: tuple[int, int],
        *,
        passes: int,
        step: Callable[[int], None],
        cancel: CancelFn,
    ) -> Image.Image:
        """`source` upscaled by `passes` passes of the model and resized to exactly `size`; `step(n)` after pass n."""
        import numpy as np
        import torch

        from functions.generation.tiles import to_uint8, upscale_tiled

        entry, model = loaded.entry, loaded.model
        scale = entry.upscale_factor or 4
        tile = entry.serving.tile or 1 << 30  # 0 = the whole image at once
        array = np.asarray(source.convert("RGB"), dtype=np.float32) / 255.0
        image = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(model.device, model.dtype)
        with torch.inference_mode():
            for index in range(passes):
                if cancel():
                    raise RenderCanceled
                if index == passes - 1 and index > 0:
                    # Stop at the target: shrink the intermediate so the last pass lands on (about) the target size
                    # instead of building a larger image only to throw most of it away.
                    image = _shrink_for_last_pass(image, size, scale)
                image = upscale_tiled(model, image, scale=scale, tile=tile, overlap=entry.serving.tile_overlap)
                step(index + 1)
            # Resized to the exact target and converted to 8 bits on the model's device; only uint8 reaches the host.
            pixels = to_uint8(image, size).cpu().numpy()
        return Image.fromarray(pixels, mode="RGB")

    # -- image_to_prompt --------------------------------------------------------------------------------------------

    def _caption(
        self, loaded: _Loaded, request: RenderRequest, seed: int, progress: ProgressFn, cancel: CancelFn
    ) -> RenderResult:
        """The detailed caption; with a `target_model`, also the Florence-2 tasks its family's template reads
        (functions/generation/prompting.py), composed into a prompt shaped for that family."""
        from functions.generation.prompting import FAMILY_TASKS, ImageReading, compose

        source = _decode(request.image, "image")
        family: PromptFamily | None = None
        if request.target_model is not None:
            try:
                family = prompt_family(request.target_model)
            except ModelUnavailable as exc:
                raise RenderFailed(exc.code, exc.message) from exc
        tasks = (CAPTION_TASK, *(FAMILY_TASKS[family] if family else ()))
        answers: dict[str, Any] = {}
        for index, task_token in enumerate(tasks):

            def part(fraction: float, index: int = index) -> None:
                progress(min(0.99, (index + fraction) / len(tasks)))

            answers[task_token] = _florence(loaded, source, task_token, seed, progress=part, cancel=cancel)
        caption = answers[CAPTION_TASK]
        if not isinstance(caption, str) or not caption:
            raise RenderFailed("empty_caption", f"{loaded.entry.id} produced no text for this image")
        if family is None:
            text = caption
        else:
            reading = ImageReading(
                caption=caption,
                width=source.width,
                height=source.height,
                objects=_regions(answers.get("<OD>")),
                regions=_regions(answers.get("<DENSE_REGION_CAPTION>")),
                text=_ocr_text(answers.get("<OCR>")),
            )
            text = compose(family, reading)
        progress(1.0)
        return RenderResult(
            task="image_to_prompt",
            model=loaded.entry.id,
            seed=seed,
            prompt_text=text,
            parameters={
                "caption_task": CAPTION_TASK,
                "caption_tasks": list(tasks),
                "target_model": request.target_model,
                "prompt_family": family,
                "input_width": source.width,
                "input_height": source.height,
                "seed": seed,
            },
        )


def _florence(
    loaded: _Loaded, source: Image.Image, task_token: str, seed: int, *, progress: ProgressFn, cancel: CancelFn
) -> Any:
    """One Florence-2 task on `source`: the caption's text (printable, one line) for text tasks, the processor's
    post-processed answer (boxes and labels) for the others."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    processor, model = loaded.processor, loaded.model
    inputs = processor(text=task_token, images=source, return_tensors="pt").to(model.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    settings = caption_generation_settings(model, processor)
    limit = settings["max_length"] - 1
    produced = 0

    class _Watch(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            nonlocal produced
            produced += 1
            progress(min(0.99, produced / limit))
            if cancel():
                raise RenderCanceled
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    torch.manual_seed(seed)
    with torch.inference_mode():
        generated = model.generate(**inputs, **settings, stopping_criteria=StoppingCriteriaList([_Watch()]))
    if task_token == CAPTION_TASK:
        text = processor.batch_decode(generated, skip_special_tokens=True)[0]
        return " ".join("".join(ch if ch.isprintable() else " " for ch in text).replace("\ufffd", " ").split())
    raw = processor.batch_decode(generated, skip_special_tokens=False)[0]
    try:
        answer = processor.post_process_generation(raw, task=task_token, image_size=(source.width, source.height))
    except (ValueError, KeyError, IndexError, TypeError):  # an answer the parser cannot read reads as nothing
        return None
    return answer.get(task_token)


def _regions(answer: Any) -> tuple[Region, ...]:
    """Florence-2's `{"bboxes": [[x0, y0, x1, y1], ...], "labels": [...]}` as Regions (malformed entries dropped)."""
    if not isinstance(answer, dict):
        return ()
    regions: list[Region] = []
    for box, label in zip(answer.get("bboxes") or (), answer.get("labels") or (), strict=False):
        if isinstance(label, str) and isinstance(box, (list, tuple)) and len(box) == 4:
            regions.append(Region(label, (float(box[0]), float(box[1]), float(box[2]), float(box[3]))))
    return tuple(regions)


def _ocr_text(answer: Any) -> str:
    return answer if isinstance(answer, str) else ""


# -- helpers -----------------------------------------------------------------------------------------------------


class _Progress:
    """The render's progress: fractions for `on_progress`, and steps (step, steps) for `on_step` when given."""

    def __init__(self, fraction: ProgressFn, on_step: StepFn | None) -> None:
        self._fraction, self._on_step = fraction, on_step
        self.last_step: int | None = None

    def __call__(self, fraction: float) -> None:
        self._fraction(fraction)

    def step(self, done: int, total: int) -> None:
        total = max(1, total)
        done = min(max(done, 0), total)
        self.last_step = done
        if self._on_step is not None:
            self._on_step(done, total)
        self._fraction(min(1.0, done / total))


def guidance_arguments(entry: ModelEntry, guidance: float, negative_prompt: str | None) -> dict[str, Any]:
    """The pipeline arguments for a model's guidance and negative prompt (config/models.GuidanceKind).

    "cfg": `guidance` is the true-CFG scale (`true_cfg_scale`), the negative prompt its unconditional side.
    "distilled" (FLUX [dev]): `guidance` is the embedded `guidance_scale`; a negative prompt turns on true CFG at the
    registry's `negative_cfg_scale` (diffusers runs true CFG only with a negative prompt and a scale above 1).
    "none" (FLUX [schnell]): the registry's guidance, which the guidance-free model ignores.
    """
    negative = (negative_prompt or "").strip() or None
    if negative is not None and "negative_prompt" not in entry.controls:
        raise RenderFailed("unsupported_control", f"{entry.id} takes no negative prompt")
    if entry.guidance_kind == "cfg":
        arguments: dict[str, Any] = {"true_cfg_scale": guidance}
    else:
        arguments = {"guidance_scale": guidance}
        if negative is not None:
            arguments["true_cfg_scale"] = entry.negative_cfg_scale
    if negative is not None:
        arguments["negative_prompt"] = negative
    return arguments


def _task_pipeline(
    loaded: _Loaded,
    request: RenderRequest,
    kwargs: dict[str, Any],
    *,
    source: Image.Image | None,
    size: tuple[int, int],
    guidance: float,
    strength: float,
) -> Any:
    """The pipeline that runs `request` on the loaded model (the model's own, or another over its weights), with the
    task's inputs added to `kwargs` as that pipeline takes them."""
    entry = loaded.entry
    width, height = size
    pipeline = loaded.model
    if entry.family == "qwen-image":
        # True classifier-free guidance (two passes a step; `guidance_arguments` passes `true_cfg_scale` for a
        # "cfg" model): the person's negative prompt, else the model card's blank one.
        if guidance > 1 and "negative_prompt" not in kwargs:
            kwargs["negative_prompt"] = QWEN_NEGATIVE_PROMPT
        if request.task == "inpaint" and source is not None:
            pipeline = _variant(loaded, "inpaint", "QwenImageInpaintPipeline")
            mask = _decode(request.mask, "mask").convert("L")
            kwargs.update(
                image=source.resize((width, height), Image.Resampling.LANCZOS),
                mask_image=mask.resize((width, height), Image.Resampling.NEAREST),
                strength=1.0,  # the masked area from pure noise, as FLUX Fill; the rest is kept from the input
            )
    elif entry.family == "flux2-klein":
        # Flux2KleinPipeline: no negative prompt and, distilled, no guidance (it ignores `guidance_scale`). An edit
        # passes the reference image as it is, undistorted by the output's aspect ratio (its tokens carry their own
        # positions): the pipeline brings it to at most 1 MP on 16 px; below 64 px a side it refuses it, so a
        # smaller one is enlarged to that first.
        if request.task == "edit" and source is not None:
            kwargs["image"] = klein_reference(source)
        elif request.task == "inpaint" and source is not None:
            pipeline = _variant(loaded, "inpaint", "Flux2KleinInpaintPipeline")
            mask = _decode(request.mask, "mask").convert("L")
            kwargs.update(
                image=source.resize((width, height), Image.Resampling.LANCZOS),
                mask_image=mask.resize((width, height), Image.Resampling.NEAREST),
                strength=1.0,  # the masked area from pure noise, as FLUX Fill; the rest is kept from the input
            )
    elif request.task == "edit" and source is not None:
        kwargs.update(image=source.resize((width, height), Image.Resampling.LANCZOS), _auto_resize=False)
        kwargs["max_area"] = width * height
    elif request.task == "inpaint" and source is not None:
        mask = _decode(request.mask, "mask").convert("L")
        kwargs.update(
            image=source.resize((width, height), Image.Resampling.LANCZOS),
            mask_image=mask.resize((width, height), Image.Resampling.NEAREST),
        )
    elif request.task == "vary" and source is not None:
        pipeline = _img2img(loaded)
        kwargs.update(image=source.resize((width, height), Image.Resampling.LANCZOS), strength=strength)
    return pipeline


def klein_reference(source: Image.Image) -> Image.Image:
    """The reference image FLUX.2 [klein] edits: the input, enlarged (aspect kept) where a side is under
    KLEIN_MIN_REFERENCE_SIDE, the least Flux2KleinPipeline accepts."""
    short = min(source.width, source.height)
    if short >= KLEIN_MIN_REFERENCE_SIDE:
        return source
    scale = KLEIN_MIN_REFERENCE_SIDE / short
    size = (
        max(KLEIN_MIN_REFERENCE_SIDE, round(source.width * scale)),
        max(KLEIN_MIN_REFERENCE_SIDE, round(source.height * scale)),
    )
    return source.resize(size, Image.Resampling.LANCZOS)


def _img2img(loaded: _Loaded) -> Any:
    """diffusers' FluxImg2ImgPipeline over the loaded FLUX pipeline's own components."""
    return _variant(loaded, "img2img", "FluxImg2ImgPipeline")


def _variant(loaded: _Loaded, name: str, pipeline_class: str) -> Any:
    """Another diffusers pipeline over the loaded pipeline's own components (`from_pipe`: no second copy of the
    weights, and the speed-ups applied to the shared transformer apply to both), made once per model."""
    pipe = loaded.variants.get(name)
    if pipe is None:
        import diffusers

        cls: Any = getattr(diffusers, pipeline_class)
        pipe = cls.from_pipe(loaded.model)
        pipe.set_progress_bar_config(disable=True)
        loaded.variants[name] = pipe
    return pipe


def _entry(model_id: str) -> ModelEntry:
    try:
        return get_model(model_id)
    except ModelUnavailable as exc:
        raise RenderFailed(exc.code, exc.message) from exc


def scaled_size(width: int, height: int, divisor: int) -> tuple[int, int]:
    """width x height divided by `divisor`, each side rounded to a multiple of 16 (at least 16)."""
    if divisor == 1:
        return width, height
    return (
        max(FLUX_MULTIPLE, round(width / divisor / FLUX_MULTIPLE) * FLUX_MULTIPLE),
        max(FLUX_MULTIPLE, round(height / divisor / FLUX_MULTIPLE) * FLUX_MULTIPLE),
    )


def _decode(data: bytes | None, what: str) -> Image.Image:
    if not data:
        raise RenderFailed("missing_input", f"this task needs an input {what}")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_INPUT_PIXELS:
                raise RenderFailed("input_too_large", f"the input {what} has more than {MAX_INPUT_PIXELS} pixels")
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise RenderFailed("invalid_image", f"the input {what} is not a readable image") from exc
    return image.convert("RGB")


def _flux_size(request: RenderRequest, source: Image.Image | None) -> tuple[int, int]:
    width, height = request.width, request.height
    if width is None or height is None:
        if source is None:
            raise RenderFailed("invalid_size", "width and height are required")
        # Follow the input: its size rounded down to a multiple of 16, within the model's 2048 px.
        width, height = follow_input_size(source.width, source.height)
    if width % FLUX_MULTIPLE or height % FLUX_MULTIPLE or not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise RenderFailed("invalid_size", f"width and height must be multiples of 16 up to {MAX_SIDE}")
    return width, height


def encode_image(image: Image.Image, output_format: OutputFormat) -> RenderedImage:
    buffer = io.BytesIO()
    if output_format == "png":
        image.save(buffer, format="PNG", compress_level=6)
    elif output_format == "jpeg":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)  # 4:4:4 keeps upscaled detail
    else:
        image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    return RenderedImage(buffer.getvalue(), image.width, image.height, CONTENT_TYPES[output_format])


def encode_images(images: Sequence[Image.Image], output_format: OutputFormat) -> tuple[RenderedImage, ...]:
    """Encode a job's images in parallel threads (Pillow's encoders run without the interpreter lock)."""
    if len(images) <= 1:
        return tuple(encode_image(image, output_format) for image in images)
    with ThreadPoolExecutor(max_workers=min(len(images), os.cpu_count() or 1)) as pool:
        return tuple(pool.map(lambda image: encode_image(image, output_format), images))


def _shrink_for_last_pass(image: Any, target: tuple[int, int], scale: int) -> Any:
    """An intermediate upscale shrunk (on its device) so one more `scale`x pass reaches at least `target`."""
    import math

    from torch.nn import functional as F

    height, width = image.shape[2], image.shape[3]
    want_w, want_h = math.ceil(target[0] / scale), math.ceil(target[1] / scale)
    if want_w >= width or want_h >= height:
        return image
    shrunk = F.interpolate(image.float(), size=(want_h, want_w), mode="bicubic", antialias=True, align_corners=False)
    return shrunk.clamp_(0.0, 1.0).to(image.dtype)


def _modules(model: Any) -> list[Any]:
    """The torch modules of a loaded model: a pipeline's components, or the model itself."""
    import torch

    if isinstance(model, torch.nn.Module):
        return [model]
    components = getattr(model, "components", {})
    return [part for part in components.values() if isinstance(part, torch.nn.Module)]


def warm_up_requests(entry: ModelEntry, size_divisor: int) -> list[RenderRequest]:
    """One cheap request per shape a model can be asked for: every registered size × every count × every task for
    the diffusion models (one step each: the transformer's shapes do not depend on the step count; a model that
    also inpaints warms its inpaint pipeline too), one of each kind otherwise."""
    requests: list[RenderRequest] = []
    sizes = [scaled_size(w, h, size_divisor) for w, h in entry.sizes.values()] or [(64, 64)]
    for width, height in sizes:
        for task in entry.tasks:
            if task == "vary":  # img2img runs the very transformer shapes text_to_image warms up: nothing to add
                continue
            image = None if task == "text_to_image" else _blank_png(width, height)
            mask = _blank_png(width, height) if task == "inpaint" else None
            if task in ("upscale", "image_to_prompt"):
                target = width * (entry.upscale_factor or 4) if task == "upscale" else None
                requests.append(RenderRequest(task=task, model=entry.id, image=image, target_long_side=target, seed=0))
                continue
            for count in range(1, 5):
                requests.append(
                    RenderRequest(
                        task=task,
                        model=entry.id,
                        prompt="warm-up",
                        image=image,
                        mask=mask,
                        width=width,
                        height=height,
                        count=count,
                        seed=0,
                        steps=1,
                    )
                )
    return requests


def _blank_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def _error_code(exc: Exception) -> str:
    name = type(exc).__name__
    if "OutOfMemory" in name or "out of memory" in str(exc).lower():
        return "out_of_memory"
    return "render_error"


def caption_generation_settings(model: Any, processor: Any) -> dict[str, Any]:
    """`generate` arguments for a captioner, from the checkpoint's own generation config (beams, length, repeats).

    The BOS token is suppressed only when the config does not force it as the first token: suppressing a token
    that is also forced leaves the first step with no allowed token at all.
    """
    config = model.generation_config
    explicit = config.to_diff_dict()  # what the checkpoint's generation_config.json sets, not library defaults
    text_config = getattr(model.config, "text_config", model.config)
    positions = getattr(text_config, "max_position_embeddings", None) or CAPTION_MAX_NEW_TOKENS + 1
    max_length = min(int(explicit.get("max_length") or CAPTION_MAX_NEW_TOKENS + 1), positions)
    forced_bos = getattr(config, "forced_bos_token_id", None)
    if forced_bos is None:
        forced_bos = getattr(text_config, "forced_bos_token_id", None)
    tokenizer = processor.tokenizer
    suppressed = {tokenizer.convert_tokens_to_ids(tok) for tok in (processor.image_token, tokenizer.unk_token)}
    suppressed.add(tokenizer.pad_token_id)
    if tokenizer.bos_token_id != forced_bos:
        suppressed.add(tokenizer.bos_token_id)
    suppressed.discard(forced_bos)
    settings: dict[str, Any] = {
        # As max_length (decoder tokens, the start token included), so it never disagrees with the config's own.
        "max_length": min(CAPTION_MAX_NEW_TOKENS + 1, max(CAPTION_MIN_NEW_TOKENS + 1, max_length)),
        "min_new_tokens": CAPTION_MIN_NEW_TOKENS,
        "num_beams": int(explicit.get("num_beams") or CAPTION_DEFAULT_BEAMS),
        "do_sample": False,
        "suppress_tokens": sorted(token for token in suppressed if token is not None),
    }
    for name in ("early_stopping", "no_repeat_ngram_size", "length_penalty"):
        value = explicit.get(name)
        if value:
            settings[name] = value
    return settings
