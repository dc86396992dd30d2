"""Modal GPU classes: one per model family, weights from the volume, loaded once per container.

Cold starts use memory snapshots: `@modal.enter(snap=True)` loads the weights (bfloat16) to the CPU before the
snapshot is taken, `@modal.enter(snap=False)` moves them to the GPU after each restore; CUDA is never touched
before the snapshot. Each container serves one input at a time (no `@modal.concurrent`), so one GPU renders
one job at a time.

`render(request_dict) -> result_dict` takes `RenderRequest.to_dict()` and returns `RenderResult.to_dict()`;
a `RenderFailed` raised inside reaches the caller as `RenderFailed` (it pickles with its code). The jobs work
adds `run_job(job_id)` (claim, render with progress/cancel against the job row, store outputs) on top of the engine.

Nothing heavy is imported here: the engine imports torch/diffusers lazily. functions/deployment.py imports this
module to register the classes; the API and the tasks never do (dispatch finds a class by name, functions/dispatch.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import modal

from config.models import BY_ID
from functions.dispatch import SERVES
from functions.modal_app import SECRETS, WEIGHTS_MOUNT, app, gpu_image, weights_image, weights_volume

RENDER_TIMEOUT = 600  # seconds for one render, loading included on a cold start
ENTER_TIMEOUT = 900  # loading tens of GB of weights from the volume on the first, unsnapshotted start
IDLE_SECONDS = 120  # keep a warm container this long after its last input


class _Renderer:
    """Shared body of every GPU class; subclasses name the registry entries they serve."""

    model_ids: ClassVar[tuple[str, ...]] = ()
    engine: Any

    @modal.enter(snap=True)
    def load_to_cpu(self) -> None:
        from functions.generation.engine import Engine, VolumeSource

        self.engine = Engine(VolumeSource(Path(WEIGHTS_MOUNT)), device="cpu", dtype="bfloat16")
        for model_id in self.model_ids:
            self.engine.load(model_id)

    @modal.enter(snap=False)
    def move_to_gpu(self) -> None:
        self.engine.to("cuda")

    @modal.method()
    def run_job(self, job_id: str) -> None:
        """Run one committed job: claim, render, store outputs, settle credits (functions/generation/worker.py)."""
        from uuid import UUID

        from functions.generation.worker import runner_for

        runner_for(self.engine).run(UUID(job_id))

    @modal.method()
    def render(self, request: dict[str, Any]) -> dict[str, Any]:
        from functions.generation.engine import RenderRequest

        result = self.engine.render(RenderRequest.from_dict(request))
        data: dict[str, Any] = result.to_dict()
        return data


def _options(class_name: str) -> dict[str, Any]:
    gpus = {BY_ID[model_id].gpu for model_id in SERVES[class_name]}
    if len(gpus) != 1:
        raise ValueError(f"{class_name} serves models that want different GPUs: {sorted(gpus)}")
    return {
        "image": gpu_image,
        "gpu": gpus.pop(),
        "volumes": {WEIGHTS_MOUNT: weights_volume},
        "secrets": SECRETS,
        "timeout": RENDER_TIMEOUT,
        "startup_timeout": ENTER_TIMEOUT,
        "scaledown_window": IDLE_SECONDS,
        "enable_memory_snapshot": True,
    }


@app.cls(**_options("FluxSchnell"))
class FluxSchnell(_Renderer):
    model_ids = SERVES["FluxSchnell"]


@app.cls(**_options("FluxKontext"))
class FluxKontext(_Renderer):
    model_ids = SERVES["FluxKontext"]


@app.cls(**_options("FluxFill"))
class FluxFill(_Renderer):
    model_ids = SERVES["FluxFill"]


@app.cls(**_options("Upscaler"))
class Upscaler(_Renderer):
    model_ids = SERVES["Upscaler"]


@app.cls(**_options("Captioner"))
class Captioner(_Renderer):
    model_ids = SERVES["Captioner"]


@app.function(image=weights_image, volumes={WEIGHTS_MOUNT: weights_volume}, timeout=3 * 3600, cpu=2.0, memory=4096)
def download_weights(
    model_ids: list[str] | None = None, hf_token: str | None = None, update: list[str] | None = None
) -> dict[str, dict[str, str]]:
    """Download each model's pinned or locked commit into `/weights/<repo>/<commit>` (resolving a branch to its
    newest commit the first time, or when named in `update`), lock it in `/weights/weights.lock.json`, commit the
    volume after each model, and return the lock.

    `hf_token` is needed for gated repos (the FLUX.1 [dev] family); it is used for this call only, never stored.
    Already complete snapshots are skipped (the hub client compares files), so running twice is cheap.
    """
    from dataclasses import asdict

    from functions.generation.weights import fill_weights
    from shared.weights import select_for_download  # the generation models and the image classifier

    entries = select_for_download([*(model_ids or ()), *(update or ())] or None)
    locks = fill_weights(
        Path(WEIGHTS_MOUNT),
        entries,
        update=tuple(update or ()),
        token=hf_token,
        saved=weights_volume.commit,
        say=lambda line: print(line, flush=True),
    )
    return {model_id: asdict(locked) for model_id, locked in locks.items()}
