"""Per-model serving options in the registry, and ATELIER_SPEEDUPS_OFF turning speed-ups off."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.models import BY_ID, MODELS, SPEEDUPS, speedups
from config.settings import Settings


def test_flux_models_enable_every_speedup_qwen_all_but_fused_qkv_and_the_others_none() -> None:
    """Qwen-Image's attention has no fused-QKV path in diffusers: compile and fp8 only. FLUX.2 [klein] ("flux2-klein")
    fuses its double-stream blocks' projections (its single-stream blocks are fused by design): all three."""
    for entry in MODELS:
        if entry.family.startswith("flux"):
            expected: tuple[str, ...] = SPEEDUPS
        elif entry.family.startswith("qwen"):
            expected = ("compile", "fp8")
        else:
            expected = ()
        assert speedups(entry) == expected, entry.id


def test_speedups_off_turns_one_off_everywhere_or_for_one_model() -> None:
    schnell, kontext = BY_ID["flux-schnell"], BY_ID["flux-kontext-dev"]
    off = Settings(speedups_off="fp8, flux-schnell:compile").speedups_off
    assert speedups(schnell, off) == ("fuse_qkv",)
    assert speedups(kontext, off) == ("compile", "fuse_qkv")


@pytest.mark.parametrize("value", ["fp9", "flux-schnel:compile", "flux-schnell:"])
def test_a_misspelt_speedup_fails_at_startup(value: str) -> None:
    with pytest.raises(ValidationError, match="ATELIER_SPEEDUPS_OFF"):
        Settings(speedups_off=value)


def test_upscales_are_tiled_fp16_jpeg_and_flux_reserves_room_for_its_weights() -> None:
    esrgan = BY_ID["real-esrgan-x4"].serving
    assert (esrgan.tile, esrgan.gpu_dtype, esrgan.output_format) == (512, "float16", "jpeg")
    assert esrgan.tile_overlap > 0
    for model_id in ("flux-schnell", "flux-kontext-dev", "flux-fill-dev"):
        serving = BY_ID[model_id].serving
        assert serving.memory_mib >= 40 * 1024  # ~34 GB of bf16 weights pass through host memory
        assert serving.gpu_dtype == "bfloat16"
        assert serving.min_containers <= serving.max_containers


def test_flux2_klein_reserves_room_for_its_weights_and_a_share_of_the_connection_budget() -> None:
    """About 16 GB of bf16 weights (4B transformer, Qwen3-4B encoder) pass through host memory; at most 4 containers
    keep every GPU class's connections with the API's and the tasks' within the default pooler limit of 200."""
    from config.connections import over_budget
    from functions.job_routing import gpu_containers

    serving = BY_ID["flux2-klein-4b"].serving
    assert serving.memory_mib >= 20 * 1024
    assert serving.gpu_dtype == "bfloat16"
    assert serving.max_containers == 4
    assert dict(gpu_containers())["Flux2Klein"] == 4
    assert over_budget(Settings(), gpu_containers()) is None
