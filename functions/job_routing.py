"""Where committed jobs go to run, for every edge: the local stack's worker threads, or a Modal GPU class.

The API and the reconciler ask `current()` for this process's dispatcher. On Modal the GPU class is looked up by
name (`modal.Cls.from_name`), so neither the API nor the tasks import generation code: their containers carry
none of it. Dispatching never blocks on the render; a lost dispatch is repaired by the `reconcile-jobs` task.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from uuid import UUID

from config.models import BY_ID
from shared.jobs.dispatcher import Dispatcher, QueueOnly

APP_NAME = "atelier"

# Which GPU class serves which models: the classes (functions/generation/gpu.py) are defined from this table and
# the dispatcher finds them by these names.
SERVES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "FluxSchnell": ("flux-schnell",),
        "FluxKontext": ("flux-kontext-dev",),
        "FluxFill": ("flux-fill-dev",),
        "QwenImage": ("qwen-image",),
        "Flux2Klein": ("flux2-klein-4b",),
        "Upscaler": ("real-esrgan-x4",),
        "Captioner": ("florence-2-base",),
    }
)
# Models a class loads besides those it serves: the upscaler that finishes a "4k" render in the same job (on the
# same GPU, so the render never leaves the container before it is upscaled).
ALSO_LOADS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "FluxSchnell": ("real-esrgan-x4",),
        "FluxKontext": ("real-esrgan-x4",),
        "QwenImage": ("real-esrgan-x4",),
        "Flux2Klein": ("real-esrgan-x4",),
    }
)
CLASS_FOR_MODEL: Mapping[str, str] = MappingProxyType(
    {model_id: name for name, ids in SERVES.items() for model_id in ids}
)


def gpu_containers() -> tuple[tuple[str, int], ...]:
    """Each GPU class with the most containers Modal may run of it (the largest `max_containers` of the models it
    serves): its share of the Postgres connection budget (config/connections.py)."""

    return tuple(
        (name, max(BY_ID[model_id].serving.max_containers for model_id in ids)) for name, ids in SERVES.items()
    )


class ModalDispatcher:
    """Spawns `run_job` on the deployed GPU class that serves the job's model, found by name."""

    def __init__(self, app_name: str = APP_NAME) -> None:
        self.app_name = app_name

    def dispatch(self, job_id: UUID, model: str) -> None:
        import modal

        cls = modal.Cls.from_name(self.app_name, CLASS_FOR_MODEL[model])
        cls().run_job.spawn(str(job_id))


_process: dict[str, Dispatcher] = {}  # at most one entry: this process's dispatcher, set by `use`


def use(dispatcher: Dispatcher) -> None:
    """Set this process's dispatcher (the local stack at start-up)."""
    _process["current"] = dispatcher


def current() -> Dispatcher:
    """This process's dispatcher: the one set by `use`, else Modal inside a Modal container, else none."""
    if "current" in _process:
        return _process["current"]
    import modal

    return QueueOnly() if modal.is_local() else ModalDispatcher()
