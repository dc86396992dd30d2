"""What a GPU container does before its memory snapshot and after each restore, in one testable place.

Two orders, chosen per class (`Serving.gpu_snapshot` in the registry):

- GPU snapshots on (`experimental_options={"enable_gpu_snapshot": True}`): before the snapshot the weights are
  loaded straight to the GPU, the speed-ups applied (fused QKV, fp8, regional compile) and every registered shape
  rendered once, so the snapshot holds weights on the GPU and compiled kernels: a restore skips the host-to-GPU
  copy and compilation alike, and nothing is left to do after it.
- GPU snapshots off (a CPU memory snapshot only): CUDA must not be touched before the snapshot. The weights are
  loaded to the CPU in their serving dtype and copied out of the safetensors memory maps (`Engine.materialize`),
  so the snapshot holds them rather than pages of files on the volume; after each restore they move to the GPU,
  and the speed-ups and warm-up run there.

`steps` records what happened, in order, for logs and tests. No Modal here: `functions/generation/gpu.py` calls
`before_snapshot` from `@modal.enter(snap=True)` and `after_restore` from `@modal.enter(snap=False)`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from functions.generation.engine import Engine, ModelSource

log = logging.getLogger("atelier.serving")
T = TypeVar("T")


@dataclass
class ServingContainer:
    source: ModelSource
    model_ids: tuple[str, ...]
    gpu_snapshot: bool
    device: str = "cuda"
    dtype: str = "serving"  # each model's serving dtype (Serving.gpu_dtype), wherever its weights are
    speedups_off: tuple[str, ...] = ()
    compile_backend: str = "inductor"
    warm: bool = True  # render every registered shape once before serving
    steps: list[str] = field(default_factory=list)
    engine: Engine | None = None

    def before_snapshot(self) -> Engine:
        """Load (and, with GPU snapshots, prepare and warm up) every model this container serves."""
        where = self.device if self.gpu_snapshot else "cpu"
        engine = Engine(
            self.source,
            device=where,
            dtype=self.dtype,
            speedups_off=self.speedups_off,
            compile_backend=self.compile_backend,
        )
        self.engine = engine
        for model_id in self.model_ids:
            self._timed(f"load {model_id} to {where}", engine.load, model_id)
            if where == "cpu":
                self._timed(f"materialize {model_id}", engine.materialize, model_id)
        if self.gpu_snapshot:
            self._ready(engine)
        return engine

    def after_restore(self) -> Engine:
        """Finish what the snapshot could not hold: without GPU snapshots, move to the GPU, prepare, warm up."""
        engine = self.engine
        if engine is None:
            raise RuntimeError("before_snapshot must run first")
        if not self.gpu_snapshot:
            self._timed(f"move to {self.device}", engine.to, self.device)
            self._ready(engine)
        self.steps.append("serving")
        return engine

    def _ready(self, engine: Engine) -> None:
        for model_id in self.model_ids:
            loaded = self._timed(f"speed-ups {model_id}", engine.prepare, model_id)
            applied = ",".join(loaded.speedups or ()) or "none"
            skipped = ",".join(f"{name} ({why})" for name, why in loaded.skipped.items())
            self.steps.append(f"applied {model_id}: {applied}" + (f"; skipped {skipped}" if skipped else ""))
            if self.warm:
                self._timed(f"warm up {model_id}", engine.warm_up, model_id)

    def _timed(self, step: str, run: Callable[[str], T], argument: str) -> T:
        started = time.perf_counter()
        result = run(argument)
        self.steps.append(step)
        log.info("container step", extra={"step": step, "seconds": round(time.perf_counter() - started, 3)})
        return result
