"""Tiled Real-ESRGAN on the tiny model: tiles with enough context give the whole-image result, seams included."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from PIL import Image

from config.models import BY_ID
from functions.generation.engine import Engine, RenderRequest
from functions.generation.tiles import tile_starts, to_uint8, upscale_tiled
from tests.generation.conftest import png

# The tiny RRDBNet sees 17 convolutions deep at input resolution: 17 px of context reproduce the whole-image pass.
RECEPTIVE = 17


def _input(engine: Engine, width: int, height: int, dtype: torch.dtype) -> tuple[torch.nn.Module, torch.Tensor]:
    model = copy.deepcopy(engine.load("real-esrgan-x4").model).to(dtype)  # the engine's own copy stays as it is
    torch.manual_seed(3)
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, height // 4, width // 4), size=(height, width))
    return model, (0.6 * smooth + 0.4 * torch.rand(1, 3, height, width)).to(dtype)


def test_tiles_cover_every_pixel_once() -> None:
    assert tile_starts(100, 32) == [0, 32, 64, 96]
    assert tile_starts(32, 32) == [0]
    with pytest.raises(ValueError, match="positive"):
        tile_starts(0, 32)


def test_tiled_equals_untiled_when_the_overlap_covers_the_receptive_field(engine: Engine) -> None:
    model, image = _input(engine, 100, 70, torch.float32)
    whole = model(image)
    tiled = upscale_tiled(model, image, scale=4, tile=32, overlap=RECEPTIVE + 3)
    assert tiled.shape == whole.shape == (1, 3, 280, 400)
    assert torch.allclose(tiled, whole, atol=1e-5)
    # The same tiles without context show their seams: the comparison above would catch a tiling error.
    seams = upscale_tiled(model, image, scale=4, tile=32, overlap=0)
    assert (seams - whole).abs().max() > 1e-3


def test_fp16_tiles_match_the_float32_whole_image_in_8_bits(engine: Engine) -> None:
    model32, image32 = _input(engine, 64, 48, torch.float32)
    reference = to_uint8(model32(image32).clamp(0, 1))
    model16, image16 = _input(engine, 64, 48, torch.float16)
    tiled = to_uint8(upscale_tiled(model16, image16, scale=4, tile=24, overlap=RECEPTIVE + 3).clamp(0, 1))
    assert tiled.dtype == torch.uint8
    assert tiled.shape == (192, 256, 3)
    difference = (tiled.int() - reference.int()).abs()
    assert difference.max() <= 2  # fp16 rounding, at most two levels of 255
    assert difference.float().mean() < 0.5


def test_to_uint8_stops_at_the_target_size_on_the_device() -> None:
    image = torch.rand(1, 3, 400, 300)
    pixels = to_uint8(image, (150, 200))
    assert pixels.shape == (200, 150, 3)
    assert pixels.dtype == torch.uint8
    assert pixels.device == image.device


def test_upscales_come_out_at_the_target_size_in_the_registry_format(engine: Engine) -> None:
    entry = BY_ID["real-esrgan-x4"]
    assert entry.serving.tile == 512
    assert entry.serving.tile_overlap >= RECEPTIVE
    one_pass = engine.render(RenderRequest("upscale", entry.id, image=png(64, 48), target_long_side=200))
    two_passes = engine.render(RenderRequest("upscale", entry.id, image=png(40, 30), target_long_side=400))
    for result, size in ((one_pass, (200, 150)), (two_passes, (400, 300))):
        (image,) = result.images
        assert image.content_type == "image/jpeg"
        with Image.open(io.BytesIO(image.data)) as decoded:
            assert decoded.format == "JPEG"
            assert decoded.size == size
        assert (image.width, image.height) == size
    assert two_passes.parameters["passes"] == 2
