"""Per-model serving options in the registry, and ATELIER_SPEEDUPS_OFF turning speed-ups off."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.models import BY_ID, MODELS, SPEEDUPS, speedups
from config.settings import Settings


def test_flux_models_enable_every_speedup_qwen_all_but_fused_qkv_and_the_others_none() -> None:
    """Qwen-Image's attention has no fused-QKV path in diffusers: compile and fp8 only."""
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
