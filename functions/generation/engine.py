"""The generation engine: one pipeline per registry entry, loaded once per process, rendering one request at a time.

No Modal here: the same code runs inside the GPU classes (`functions/generation/gpu.py`, weights from the volume)
and in-process on the CPU with the tiny offline models (`functions/generation/tiny.py`), locally and in tests.

    engine = engine_for(get_settings())          # tiny models locally, the weights volume in production
    result = engine.render(RenderRequest(task="text_to_image", model="flux-schnell", prompt="a fox", width=1024,
                                         height=1024, seed=7), on_progress=print, should_cancel=lambda: False)

Outputs are WebP (quality 90) by default: a 4096² WebP encodes many times faster than a PNG and is a fraction of
its size; `output_format="png"` gives lossless PNG for small images that must be exact.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from PIL import Image, ImageOps, UnidentifiedImageError

from config.models import (
    MAX_UPSCALE_LONG_SIDE,
    ModelEntry,
    ModelUnavailable,
    Task,
    get_model,
    output_size,
    upscale_passes,
    upscale_size,
)
from config.settings import Settings

OutputFormat = Literal["webp", "png"]
CONTENT_TYPES: dict[str, str] = {"webp": "image/webp", "png": "image/png"}
WEBP_QUALITY = 90
MAX_INPUT_PIXELS = 4096 * 4096
FLUX_MULTIPLE = 16
MAX_SIDE = 2048
CAPTION_MAX_NEW_TOKENS = 96
CAPTION_MIN_NEW_TOKENS = 4

ProgressFn = Callable[[float], None]
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


@dataclass(frozen=True)
class RenderRequest:
    """What to render. Images are the encoded bytes of the inputs (any format Pillow reads)."""

    task: Task
    model: str
    prompt: str = ""
    image: bytes | None = None  # edit, inpaint, upscale, image_to_prompt
    mask: bytes | None = None  # inpaint: white = repaint, black = keep
    width: int | None = None  # text_to_image, edit, inpaint (from the aspect ratio); edit/inpaint default: input's
    height: int | None = None
    target_long_side: int | None = None  # upscale, at most 4096
    count: int = 1  # 1-4 images (upscale and image_to_prompt: 1)
    seed: int | None = None  # None → a random seed, recorded in the result
    steps: int | None = None  # None → the registry default
    guidance: float | None = None
    target_model: str | None = None  # image_to_prompt: the model the prompt is for (recorded)
    output_format: OutputFormat = "webp"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderRequest:
        return cls(**data)


@dataclass(frozen=True)
class RenderedImage:
    data: bytes
    width: int
    height: int
    content_type: str


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class TinySource:
    """Tiny random models built in code under `root` (default: ATELIER_DATA_DIR/models/tiny); never downloads."""

    root: Path
    kind: str = "tiny"
    size_divisor: int = 8  # tiny renders are 1/8 of the production size per side (1:1 → 128x128), still on 16 px
    default_steps_cap: int = 4  # without an explicit `steps`, tiny models run at most 4 (the images are noise)

    def path_for(self, entry: ModelEntry) -> Path:
        from functions.generation.tiny import ensure_tiny

        return ensure_tiny(entry.family, self.root)


@dataclass(frozen=True)
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
    return Engine(source_from_settings(settings))


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

    `device` defaults to CUDA when present, else the CPU. `dtype` ("bfloat16" | "float32") defaults to bfloat16 on
    a GPU and float32 on the CPU; a GPU container loads bfloat16 weights to the CPU before its memory snapshot
    (`Engine(source, device="cpu", dtype="bfloat16")`, then `load(...)`) and calls `to("cuda")` after it.
    """

    def __init__(self, source: ModelSource, *, device: str | None = None, dtype: str | None = None) -> None:
        self.source = source
        self.device = device or _default_device()
        self.dtype_name = dtype or ("bfloat16" if self.device.startswith("cuda") else "float32")
        self._render_lock = threading.Lock()

    def _dtype(self) -> Any:
        import torch

        return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[self.dtype_name]

    def _key(self, entry: ModelEntry) -> tuple[str, str, str]:
        return (f"{self.source.kind}:{self.dtype_name}", str(getattr(self.source, "root", "")), entry.id)

    def load(self, model_id: str) -> _Loaded:
        """The model, loaded from the source on first use and cached for the process."""
        entry = _entry(model_id)
        key = self._key(entry)
        with _CACHE_LOCK:
            loaded = _CACHE.get(key)
            if loaded is None:
                path = self.source.path_for(entry)
                try:
                    loaded = _load(entry, path, self._dtype())
                except Exception as exc:  # any loader error (missing file, corrupt safetensors, bad config)
                    raise RenderFailed(
                        "model_load_failed", f"{entry.id} could not be loaded: {type(exc).__name__}"
                    ) from exc
                _CACHE[key] = loaded
            return loaded

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
            for key, loaded in _CACHE.items():
                if key[:2] == self._key(loaded.entry)[:2]:
                    loaded.model.to(device)

    def render(
        self,
        request: RenderRequest,
        *,
        on_progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> RenderResult:
        """Render one request. Raises RenderCanceled when `should_cancel` turns true between steps, RenderFailed
        (with a stable code) for bad inputs or a failing pipeline."""
        progress = on_progress or (lambda _fraction: None)
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
        self, loaded: _Loaded, request: RenderRequest, seed: int, progress: ProgressFn, cancel: CancelFn
    ) -> RenderResult:
        task = request.task
        if task == "upscale":
            return self._upscale(loaded, request, seed, progress, cancel)
        if task == "image_to_prompt":
            return self._caption(loaded, request, seed, progress, cancel)
        return self._diffuse(loaded, request, seed, progress, cancel)

    # -- FLUX text_to_image / edit / inpaint ---------------------------------------------------------------------

    def _diffuse(
        self, loaded: _Loaded, request: RenderRequest, seed: int, progress: ProgressFn, cancel: CancelFn
    ) -> RenderResult:
        import torch

        entry = loaded.entry
        if not request.prompt.strip():
            raise RenderFailed("missing_prompt", f"{request.task} needs a prompt")
        source: Image.Image | None = None
        if request.task in ("edit", "inpaint"):
            source = _decode(request.image, "image")
        width, height = _flux_size(request, source)
        steps = request.steps if request.steps is not None else min(entry.default_steps, self.source.default_steps_cap)
        guidance = request.guidance if request.guidance is not None else entry.default_guidance
        if not 1 <= steps <= 100:
            raise RenderFailed("invalid_steps", "steps must be between 1 and 100")

        def on_step(_pipe: Any, index: int, _timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            progress(min(1.0, (index + 1) / steps))
            if cancel():
                raise RenderCanceled
            return {}

        kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "width": width,
            "height": height,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "num_images_per_prompt": request.count,
            "generator": torch.Generator(device="cpu").manual_seed(seed),
            "max_sequence_length": entry.max_sequence_length,
            "callback_on_step_end": on_step,
            "output_type": "pil",
        }
        if request.task == "edit" and source is not None:
            kwargs.update(image=source.resize((width, height), Image.Resampling.LANCZOS), _auto_resize=False)
            kwargs["max_area"] = width * height
        elif request.task == "inpaint" and source is not None:
            mask = _decode(request.mask, "mask").convert("L")
            kwargs.update(
                image=source.resize((width, height), Image.Resampling.LANCZOS),
                mask_image=mask.resize((width, height), Image.Resampling.NEAREST),
            )
        with torch.inference_mode():
            images = loaded.model(**kwargs).images
        progress(1.0)
        return RenderResult(
            task=request.task,
            model=entry.id,
            seed=seed,
            images=tuple(_encode(image, request.output_format) for image in images),
            parameters={
                "width": width,
                "height": height,
                "steps": steps,
                "guidance": guidance,
                "count": request.count,
                "seed": seed,
                "output_format": request.output_format,
            },
        )

    # -- upscale ----------------------------------------------------------------------------------------------------

    def _upscale(
        self, loaded: _Loaded, request: RenderRequest, seed: int, progress: ProgressFn, cancel: CancelFn
    ) -> RenderResult:
        import numpy as np
        import torch

        if request.count != 1:
            raise RenderFailed("invalid_count", "upscale makes one image")
        source = _decode(request.image, "image")
        target = request.target_long_side or MAX_UPSCALE_LONG_SIDE
        try:
            out_w, out_h = upscale_size(source.width, source.height, target)
        except ValueError as exc:
            raise RenderFailed("invalid_size", str(exc)) from exc
        passes = upscale_passes(loaded.entry, max(source.size), target)
        model = loaded.model
        image = source
        for index in range(passes):
            if cancel():
                raise RenderCanceled
            array = np.asarray(image, dtype=np.float32) / 255.0
            tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(model.device, model.dtype)
            with torch.inference_mode():
                output = model(tensor).clamp_(0, 1)
            pixels = (output[0].permute(1, 2, 0).float().cpu().numpy() * 255.0).round().astype(np.uint8)
            image = Image.fromarray(pixels, mode="RGB")
            progress((index + 1) / (passes + 1))
        if image.size != (out_w, out_h):
            image = image.resize((out_w, out_h), Image.Resampling.LANCZOS)
        progress(1.0)
        return RenderResult(
            task="upscale",
            model=loaded.entry.id,
            seed=seed,
            images=(_encode(image, request.output_format),),
            parameters={
                "input_width": source.width,
                "input_height": source.height,
                "target_long_side": target,
                "width": out_w,
                "height": out_h,
                "passes": passes,
                "seed": seed,
                "output_format": request.output_format,
            },
        )

    # -- image_to_prompt --------------------------------------------------------------------------------------------

    def _caption(
        self, loaded: _Loaded, request: RenderRequest, seed: int, progress: ProgressFn, cancel: CancelFn
    ) -> RenderResult:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        source = _decode(request.image, "image")
        processor, model = loaded.processor, loaded.model
        task_token = "<MORE_DETAILED_CAPTION>"  # noqa: S105  # a Florence-2 task, not a secret
        inputs = processor(text=task_token, images=source, return_tensors="pt").to(model.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        tokenizer = processor.tokenizer
        suppressed = sorted(
            {tokenizer.convert_tokens_to_ids(tok) for tok in (processor.image_token, tokenizer.unk_token)}
            | {tokenizer.pad_token_id, tokenizer.bos_token_id}
        )
        produced = 0

        class _Watch(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                nonlocal produced
                produced += 1
                progress(min(0.99, produced / CAPTION_MAX_NEW_TOKENS))
                if cancel():
                    raise RenderCanceled
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

        torch.manual_seed(seed)
        with torch.inference_mode():
            generated = model.generate(
                **inputs,
                max_new_tokens=CAPTION_MAX_NEW_TOKENS,
                min_new_tokens=CAPTION_MIN_NEW_TOKENS,
                num_beams=1,
                do_sample=False,
                suppress_tokens=suppressed,
                stopping_criteria=StoppingCriteriaList([_Watch()]),
            )
        text = processor.batch_decode(generated, skip_special_tokens=True)[0]
        text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).replace("\ufffd", " ").split())
        if not text:
            raise RenderFailed("empty_caption", f"{loaded.entry.id} produced no text for this image")
        progress(1.0)
        return RenderResult(
            task="image_to_prompt",
            model=loaded.entry.id,
            seed=seed,
            prompt_text=text,
            parameters={
                "caption_task": task_token,
                "target_model": request.target_model,
                "input_width": source.width,
                "input_height": source.height,
                "seed": seed,
            },
        )


# -- helpers -----------------------------------------------------------------------------------------------------


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
        scale = min(1.0, MAX_SIDE / max(source.size))
        width = max(FLUX_MULTIPLE, int(source.width * scale) // FLUX_MULTIPLE * FLUX_MULTIPLE)
        height = max(FLUX_MULTIPLE, int(source.height * scale) // FLUX_MULTIPLE * FLUX_MULTIPLE)
    if width % FLUX_MULTIPLE or height % FLUX_MULTIPLE or not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise RenderFailed("invalid_size", f"width and height must be multiples of 16 up to {MAX_SIDE}")
    return width, height


def _encode(image: Image.Image, output_format: OutputFormat) -> RenderedImage:
    buffer = io.BytesIO()
    if output_format == "png":
        image.save(buffer, format="PNG", compress_level=6)
    else:
        image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4)
    return RenderedImage(buffer.getvalue(), image.width, image.height, CONTENT_TYPES[output_format])


def _error_code(exc: Exception) -> str:
    name = type(exc).__name__
    if "OutOfMemory" in name or "out of memory" in str(exc).lower():
        return "out_of_memory"
    return "render_error"
