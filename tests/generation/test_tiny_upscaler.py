"""The local stack's upscaler (the tiny Real-ESRGAN, loaded through the real RRDBNet path) shows its input larger.

It used to answer a black image (every value below 0.01): random convolutions alone lose the picture.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from functions.generation.engine import Engine, RenderRequest


def _picture() -> bytes:
    image = Image.new("RGB", (64, 48), (30, 60, 160))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 30, 40), fill=(230, 200, 40))
    draw.ellipse((36, 6, 60, 30), fill=(200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_tiny_upscaler_returns_its_input_four_times_larger_not_black(engine: Engine) -> None:
    source = _picture()
    result = engine.render(
        RenderRequest(task="upscale", model="real-esrgan-x4", image=source, target_long_side=256, output_format="png")
    )
    with Image.open(io.BytesIO(result.images[0].data)) as out:
        assert out.size == (256, 192)
        pixels = np.asarray(out.convert("RGB"), dtype=np.float32)
    with Image.open(io.BytesIO(source)) as original:
        expected = np.asarray(original.resize((256, 192), Image.Resampling.BICUBIC), dtype=np.float32)
    assert pixels.mean() > 40  # not black
    inner = (slice(8, -8), slice(8, -8))  # the borders darken a little (zero padding)
    assert np.abs(pixels[inner] - expected[inner]).mean() < 12  # it resembles the input
    assert np.corrcoef(pixels[inner].ravel(), expected[inner].ravel())[0, 1] > 0.95
