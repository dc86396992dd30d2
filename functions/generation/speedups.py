"""Speed-ups for the FLUX transformer on a GPU: fused QKV projections, fp8 weights, regional torch.compile.

Each is switched per model in the registry (`config/models.py` `Serving`) and can be turned off with
`ATELIER_SPEEDUPS_OFF`; `apply_speedups` reports what it applied and why it skipped the rest. The order matters:
QKV fusion first (one larger linear layer per attention), then fp8 (which quantizes those layers), then compile
(which traces the quantized blocks).

Compilation is *regional*: only the transformer's repeated blocks are compiled (diffusers'
`compile_repeated_blocks`), each block class once, with dynamic shapes so the registry's sizes and counts share
one graph; `warm_up` in the engine then renders every registered shape once so whatever still specialises is
compiled before a container snapshot, never during a user's job. No attention backend that downloads kernels at
run time is used: the default scaled-dot-product attention is what runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from config.models import Speedup

FP8_MIN_CAPABILITY = (8, 9)  # Ada (L40S) and Hopper (H100): the first GPUs with fp8 tensor cores


@dataclass
class SpeedupReport:
    """What `apply_speedups` did: the speed-ups applied, in order, and the reason for each one skipped."""

    applied: list[Speedup] = field(default_factory=list)
    skipped: dict[Speedup, str] = field(default_factory=dict)


def fp8_unsupported(device: str) -> str | None:
    """Why fp8 cannot run on `device`, or None when it can (a CUDA GPU of compute capability 8.9+ with torchao)."""
    if not device.startswith("cuda"):
        return "fp8 needs a CUDA GPU"
    import torch

    capability = torch.cuda.get_device_capability(device)
    if capability < FP8_MIN_CAPABILITY:
        return f"compute capability {capability[0]}.{capability[1]} has no fp8 tensor cores (8.9 needed)"
    try:
        import torchao  # noqa: F401
    except ImportError:
        return "torchao is not installed"
    return None


def fuse_qkv(transformer: Any) -> None:
    """One QKV matmul per attention instead of three; the separate projections are dropped (no double weights)."""
    transformer.fuse_qkv_projections()
    for module in transformer.modules():
        if getattr(module, "fused_projections", False):
            for name in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj"):
                if getattr(module, name, None) is not None and (
                    hasattr(module, "to_qkv") or hasattr(module, "to_added_qkv")
                ):
                    delattr(module, name)


def quantize_fp8(transformer: Any) -> None:
    """Float8 weights and dynamically scaled float8 activations (per row) for every linear layer."""
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    quantize_(transformer, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()))


def compile_blocks(transformer: Any, *, backend: str = "inductor") -> None:
    """Regional compilation: each repeated block class is compiled once, with dynamic batch and sequence sizes."""
    transformer.compile_repeated_blocks(fullgraph=True, dynamic=True, backend=backend)


def apply_speedups(
    pipe: Any, wanted: tuple[Speedup, ...], device: str, *, compile_backend: str = "inductor"
) -> SpeedupReport:
    """Apply the `wanted` speed-ups to a FLUX pipeline's transformer on `device` (its weights already there)."""
    report = SpeedupReport()
    transformer = getattr(pipe, "transformer", None)
    if transformer is None:
        report.skipped.update(dict.fromkeys(wanted, "the model has no transformer"))
        return report
    if "fuse_qkv" in wanted:
        fuse_qkv(transformer)
        report.applied.append("fuse_qkv")
    if "fp8" in wanted:
        reason = fp8_unsupported(device)
        if reason is None:
            quantize_fp8(transformer)
            report.applied.append("fp8")
        else:
            report.skipped["fp8"] = reason
    if "compile" in wanted:
        compile_blocks(transformer, backend=compile_backend)
        report.applied.append("compile")
    return report
