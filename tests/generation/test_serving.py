"""A GPU container's start, on the CPU: what happens before the memory snapshot and what after each restore.

The container is the real one (`functions/generation/serving.py`) over the real engine and a volume laid out as in
production (`<repo>/<revision>`, here holding the tiny models). With GPU snapshots off nothing may touch CUDA
before the snapshot: torch's CUDA entry points raise here if called, and this machine has no GPU anyway, so the
same code with `device="cuda"` proves it. The weights must be owned by the process, not memory-mapped from
the volume, or the snapshot would hold file mappings instead of the weights.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from config.models import BY_ID
from functions.generation.engine import Engine, VolumeSource
from functions.generation.serving import ServingContainer
from functions.generation.tiny import ensure_tiny

MODEL = "flux-schnell"
CUDA_ENTRY_POINTS = ("is_available", "device_count", "_lazy_init", "init", "get_device_capability", "current_device")


@pytest.fixture
def volume(tmp_path: Path, tiny_root: Path) -> Path:
    entry = BY_ID[MODEL]
    root = tmp_path / "weights"
    shutil.copytree(ensure_tiny(entry.family, tiny_root), root / entry.repo / entry.revision)
    return root


@pytest.fixture
def cuda_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call into torch's CUDA entry points is recorded and refused."""
    calls: list[str] = []

    def refuse(name: str) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            calls.append(name)
            raise AssertionError(f"torch.cuda.{name} called")

        return call

    for name in CUDA_ENTRY_POINTS:
        monkeypatch.setattr(torch.cuda, name, refuse(name))
    return calls


def _mapped_files(root: Path) -> set[str]:
    """Files under `root` memory-mapped into this process."""
    with open("/proc/self/maps") as maps:
        return {line.split()[-1] for line in maps if str(root.resolve()) in line}


def test_without_gpu_snapshots_the_snapshot_holds_owned_cpu_weights_and_cuda_is_untouched(
    volume: Path, cuda_calls: list[str]
) -> None:
    # float32 is what the tiny checkpoint holds: loading in the stored dtype maps the files, as bf16 does in production.
    container = ServingContainer(VolumeSource(volume), (MODEL,), gpu_snapshot=False, device="cuda", dtype="float32")
    engine = container.before_snapshot()

    assert cuda_calls == []
    assert engine.device == "cpu"
    assert container.steps == [f"load {MODEL} to cpu", f"materialize {MODEL}"]  # nothing compiled or warmed yet
    assert _mapped_files(volume) == set()
    loaded = engine.load(MODEL)
    assert loaded.speedups is None
    assert next(loaded.model.transformer.parameters()).device.type == "cpu"


def test_loading_in_the_stored_dtype_maps_the_files_which_materialize_then_drops(volume: Path) -> None:
    """The premise of the check above: without `materialize` the weights would stay mapped from the volume."""
    engine = Engine(VolumeSource(volume), device="cpu", dtype="float32")
    engine.load(MODEL)
    assert any(name.endswith(".safetensors") for name in _mapped_files(volume))
    engine.materialize(MODEL)
    assert _mapped_files(volume) == set()


def test_without_gpu_snapshots_the_restore_moves_prepares_and_warms_up(volume: Path) -> None:
    container = ServingContainer(
        VolumeSource(volume),
        (MODEL,),
        gpu_snapshot=False,
        device="cpu",
        dtype="float32",
        speedups_off=("compile",),
        warm=False,
    )
    container.before_snapshot()
    before = list(container.steps)
    engine = container.after_restore()

    assert container.steps[: len(before)] == before
    assert container.steps[len(before) :] == [
        "move to cpu",
        f"speed-ups {MODEL}",
        f"applied {MODEL}: fuse_qkv; skipped fp8 (fp8 needs a CUDA GPU)",
        "serving",
    ]  # with warm=True a warm-up over every registered shape follows the speed-ups (test_compiled.py)
    assert engine.load(MODEL).speedups == ("fuse_qkv",)


def test_with_gpu_snapshots_everything_happens_before_the_snapshot(volume: Path) -> None:
    container = ServingContainer(
        VolumeSource(volume),
        (MODEL,),
        gpu_snapshot=True,
        device="cpu",
        dtype="float32",
        speedups_off=("compile",),
        warm=False,
    )
    container.before_snapshot()

    assert container.steps == [
        f"load {MODEL} to cpu",
        f"materialize {MODEL}",
        f"speed-ups {MODEL}",
        f"applied {MODEL}: fuse_qkv; skipped fp8 (fp8 needs a CUDA GPU)",
    ]
    container.after_restore()
    assert container.steps[-1] == "serving"
    assert len(container.steps) == 5  # nothing else to do after a restore


def test_a_restore_without_a_snapshot_is_refused(volume: Path) -> None:
    container = ServingContainer(VolumeSource(volume), (MODEL,), gpu_snapshot=False, device="cpu")
    with pytest.raises(RuntimeError, match="before_snapshot"):
        container.after_restore()
