"""The engine's variations (FLUX img2img over the create model's own weights) and 4K renders, on tiny pipelines."""

from __future__ import annotations

import pytest

from config.models import VARY_STRENGTHS, VaryStrength
from functions.generation.engine import Engine, RenderCanceled, RenderRequest, _img2img
from tests.generation.conftest import png, size_of


def _vary(strength: VaryStrength, count: int = 1) -> RenderRequest:
    return RenderRequest(
        task="vary",
        model="flux-schnell",
        prompt="a fox",
        image=png(128, 96),
        strength=VARY_STRENGTHS[strength],
        seed=3,
        count=count,
    )


def test_variations_follow_the_source_size_and_share_the_create_models_weights(engine: Engine) -> None:
    result = engine.render(_vary("subtle", count=2))
    assert [size_of(image.data) for image in result.images] == [(128, 96), (128, 96)]
    assert result.parameters["strength"] == 0.35
    loaded = engine.load("flux-schnell")
    img2img = _img2img(loaded)
    assert type(img2img).__name__ == "FluxImg2ImgPipeline"
    assert img2img is _img2img(loaded)  # made once
    for name in ("transformer", "vae", "text_encoder", "text_encoder_2"):
        assert getattr(img2img, name) is getattr(loaded.model, name)  # from_pipe: no second copy of the weights


def test_strength_decides_how_much_of_the_schedule_runs(engine: Engine) -> None:
    steps: dict[str, list[tuple[int, int]]] = {}
    strengths: tuple[VaryStrength, ...] = ("subtle", "strong")
    for strength in strengths:
        heard: list[tuple[int, int]] = []

        def hear(done: int, total: int, heard: list[tuple[int, int]] = heard) -> None:
            heard.append((done, total))

        engine.render(_vary(strength), on_step=hear)
        steps[strength] = heard
    # diffusers runs the last int(4 * strength) rounded up part of schnell's 4 steps: 2 for 0.35, 3 for 0.7
    assert steps["subtle"] == [(1, 2), (2, 2)]
    assert steps["strong"] == [(1, 3), (2, 3), (3, 3)]
    same = engine.render(_vary("strong"))
    assert same.images == engine.render(_vary("strong")).images  # deterministic for a seed
    assert engine.render(_vary("subtle")).images != same.images


def test_a_variation_stops_between_steps_when_canceled(engine: Engine) -> None:
    calls: list[float] = []
    with pytest.raises(RenderCanceled):
        engine.render(_vary("strong"), on_progress=calls.append, should_cancel=lambda: len(calls) >= 1)


def test_a_4k_render_is_upscaled_in_the_same_call(engine: Engine) -> None:
    heard: list[tuple[int, int]] = []
    request = RenderRequest(
        task="text_to_image",
        model="flux-schnell",
        prompt="a lighthouse",
        width=128,
        height=80,
        count=2,
        seed=1,
        upscale_long_side=512,
        upscale_model="real-esrgan-x4",
    )
    result = engine.render(request, on_step=lambda done, total: heard.append((done, total)))
    assert [size_of(image.data) for image in result.images] == [(512, 320), (512, 320)]
    assert {image.content_type for image in result.images} == {"image/jpeg"}  # the upscaler's format
    assert result.parameters["render_width"] == 128
    assert result.parameters["size"] == "4k"
    assert heard == [(n, 6) for n in range(1, 7)]  # 4 denoising steps, then one upscale pass per image
