"""Modal GPU classes: one per model family, weights from the (read-only) volume, loaded once per container.

Cold starts use memory snapshots. With GPU snapshots (the registry's `Serving.gpu_snapshot`, Modal's
`experimental_options={"enable_gpu_snapshot": True}`) the snapshot is taken after the weights are on the GPU, the
speed-ups applied and every registered shape rendered once; without them the weights are loaded to the CPU before
the snapshot (CUDA untouched) and moved, prepared and warmed up after each restore. The order lives in
`functions/generation/serving.py`. Each container serves one input at a time (no `@modal.concurrent`), so one GPU
renders one job at a time. Host memory, CPU cores and container counts come from the registry too.

`render(request_dict) -> result_dict` takes `RenderRequest.to_dict()` and returns `RenderResult.to_dict()`;
a `RenderFailed` raised inside reaches the caller as `RenderFailed` (it pickles with its code). The jobs work
adds `run_job(job_id)` (claim, render with progress/cancel against the job row, store outputs) on top of the engine.

What the containers run is imported once, under each image's `imports()`: nothing heavy at import (the engine
imports torch/diffusers lazily), so functions/deployment.py can import this module to register the classes; the
API and the tasks never do (the job router finds a class by name, functions/job_routing.py).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import modal

from config.models import BY_ID
from functions.job_routing import ALSO_LOADS, SERVES
from functions.modal_app import SECRETS, WEIGHTS_MOUNT, app, gpu_image, weights_image, weights_volume

with gpu_image.imports():  # type: ignore[no-untyped-call]  # modal types imports() loosely
    from config.settings import get_settings
    from functions.generation.engine import RenderRequest, VolumeSource
    from functions.generation.serving import ServingContainer
    from functions.generation.worker import runner_for

with weights_image.imports():  # type: ignore[no-untyped-call]
    from functions.generation.weights import fill_weights
    from shared.weights import select_for_download  # the generation models and the image classifier

RENDER_TIMEOUT = 600  # seconds for one render, loading included on a cold start
ENTER_TIMEOUT = 900  # loading tens of GB of weights from the volume on the first, unsnapshotted start
IDLE_SECONDS = 120  # keep a warm container this long after its last input


class _Renderer:
    """Shared body of every GPU class; subclasses name the registry entries they serve."""

    model_ids: ClassVar[tuple[str, ...]] = ()
    also_loads: ClassVar[tuple[str, ...]] = ()  # e.g. the upscaler of "4k" renders (functions/dispatch.ALSO_LOADS)
    gpu_snapshot: ClassVar[bool] = False
    engine: Any
    container: Any

    @modal.enter(snap=True)
    def before_snapshot(self) -> None:
        self.container = ServingContainer(
            VolumeSource(Path(WEIGHTS_MOUNT)),
            (*self.model_ids, *self.also_loads),
            gpu_snapshot=self.gpu_snapshot,
            speedups_off=tuple(get_settings().speedups_off),
        )
        self.engine = self.container.before_snapshot()

    @modal.enter(snap=False)
    def after_restore(self) -> None:
        self.engine = self.container.after_restore()

    @modal.method()
    def run_job(self, job_id: str) -> None:
        """Run one committed job: claim, render, store outputs, settle credits (functions/generation/worker.py)."""
        runner_for(self.engine).run(UUID(job_id))

    @modal.method()
    def render(self, request: dict[str, Any]) -> dict[str, Any]:
        result = self.engine.render(RenderRequest.from_dict(request))
        data: dict[str, Any] = result.to_dict()
        return data


def _options(class_name: str) -> dict[str, Any]:
    """The Modal options of a GPU class, from the registry entries it serves (which must agree on GPU and
    snapshot kind); reservations are the largest any of them asks for."""
    entries = [BY_ID[model_id] for model_id in SERVES[class_name]]
    gpus = {entry.gpu for entry in entries}
    if len(gpus) != 1:
        raise ValueError(f"{class_name} serves models that want different GPUs: {sorted(gpus)}")
    snapshots = {entry.serving.gpu_snapshot for entry in entries}
    if len(snapshots) != 1:
        raise ValueError(f"{class_name} serves models that disagree on GPU snapshots")
    options: dict[str, Any] = {
        "image": gpu_image,
        "gpu": gpus.pop(),
        # Serving only reads weights; `deploy.py weights` writes them through download_weights.
        "volumes": {WEIGHTS_MOUNT: weights_volume.with_mount_options(read_only=True)},
        "secrets": SECRETS,
        "timeout": RENDER_TIMEOUT,
        "startup_timeout": ENTER_TIMEOUT,
        "scaledown_window": IDLE_SECONDS,
        "enable_memory_snapshot": True,
        "memory": max(entry.serving.memory_mib for entry in entries),
        "cpu": max(entry.serving.cpu for entry in entries),
        "min_containers": max(entry.serving.min_containers for entry in entries),
        "max_containers": max(entry.serving.max_containers for entry in entries),
    }
    if snapshots.pop():
        options["experimental_options"] = {"enable_gpu_snapshot": True}
    return options


def _gpu_snapshot(class_name: str) -> bool:
    return bool(_options(class_name).get("experimental_options", {}).get("enable_gpu_snapshot"))


@app.cls(**_options("FluxSchnell"))
class FluxSchnell(_Renderer):
    """text_to_image and vary (img2img over the same weights), "4k" with the upscaler loaded beside."""

    model_ids = SERVES["FluxSchnell"]
    also_loads = ALSO_LOADS["FluxSchnell"]
    gpu_snapshot = _gpu_snapshot("FluxSchnell")


@app.cls(**_options("FluxKontext"))
class FluxKontext(_Renderer):
    model_ids = SERVES["FluxKontext"]
    also_loads = ALSO_LOADS["FluxKontext"]
    gpu_snapshot = _gpu_snapshot("FluxKontext")


@app.cls(**_options("FluxFill"))
class FluxFill(_Renderer):
    model_ids = SERVES["FluxFill"]
    gpu_snapshot = _gpu_snapshot("FluxFill")


@app.cls(**_options("QwenImage"))
class QwenImage(_Renderer):
    """Qwen-Image: text_to_image and inpaint (QwenImageInpaintPipeline over the same weights), "4k" with the
    upscaler loaded beside. One H100: about 58 GB of bf16 weights fit its 80 GB, fp8 halves the transformer."""

    model_ids = SERVES["QwenImage"]
    also_loads = ALSO_LOADS["QwenImage"]
    gpu_snapshot = _gpu_snapshot("QwenImage")


@app.cls(**_options("Flux2Klein"))
class Flux2Klein(_Renderer):
    """FLUX.2 [klein] 4B: text_to_image and edit (one pipeline, the reference image joins the sequence), inpaint
    (Flux2KleinInpaintPipeline over the same weights), "4k" with the upscaler loaded beside. One H100: about 16 GB
    of bf16 weights, fp8 halves the transformer."""

    model_ids = SERVES["Flux2Klein"]
    also_loads = ALSO_LOADS["Flux2Klein"]
    gpu_snapshot = _gpu_snapshot("Flux2Klein")


@app.cls(**_options("Upscaler"))
class Upscaler(_Renderer):
    model_ids = SERVES["Upscaler"]
    gpu_snapshot = _gpu_snapshot("Upscaler")


@app.cls(**_options("Captioner"))
class Captioner(_Renderer):
    model_ids = SERVES["Captioner"]
    gpu_snapshot = _gpu_snapshot("Captioner")


@app.function(image=weights_image, volumes={WEIGHTS_MOUNT: weights_volume}, timeout=3 * 3600, cpu=2.0, memory=4096)
def download_weights(model_ids: list[str] | None = None, update: list[str] | None = None) -> dict[str, dict[str, str]]:
    """Download each model's pinned or locked commit into `/weights/<repo>/<commit>` (resolving a branch to its
    newest commit the first time, or when named in `update`), lock it in `/weights/weights.lock.json`, commit the
    volume after each model, and return the lock.

    Gated repos (the FLUX.1 [dev] family) need `HF_TOKEN`, which `deploy.py weights` attaches as an ephemeral
    Modal Secret for that call only: never an argument (arguments are kept with the call's inputs).
    Already complete snapshots are skipped (the hub client compares files), so running twice is cheap.
    """
    entries = select_for_download([*(model_ids or ()), *(update or ())] or None)
    locks = fill_weights(
        Path(WEIGHTS_MOUNT),
        entries,
        update=tuple(update or ()),
        token=os.environ.get("HF_TOKEN") or None,
        saved=weights_volume.commit,
        say=lambda line: print(line, flush=True),
    )
    return {model_id: asdict(locked) for model_id, locked in locks.items()}
