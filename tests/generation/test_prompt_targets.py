"""Image-to-prompt shapes its prompt for the target a person picks, on the tiny Florence-2: a family or a
registry model; the same image gives a different prompt per target; over HTTP a bad target is 422."""

from __future__ import annotations

import re

import pytest

from functions.generation.engine import Engine, RenderRequest
from tests.generation import test_jobs_http as base
from tests.generation.conftest import png
from tests.generation.test_jobs_http import Studio, _member, _submit, _upload
from tests.generation.test_studio_jobs import _run

studio_factory = base.studio_factory
studio = base.studio


def _prompt(engine: Engine, target: str | None) -> tuple[str, dict[str, object]]:
    result = engine.render(
        RenderRequest(task="image_to_prompt", model="florence-2-base", image=png(96, 64), target_model=target, seed=1)
    )
    assert result.prompt_text
    return result.prompt_text, result.parameters


def test_each_target_has_its_shape_and_the_same_image_gives_different_prompts(engine: Engine) -> None:
    prompts = {target: _prompt(engine, target) for target in ("flux", "sdxl", "midjourney", "video")}
    flux, sdxl, midjourney, video = (prompts[t][0] for t in ("flux", "sdxl", "midjourney", "video"))
    assert "--ar" not in flux
    assert not flux.startswith("(")
    assert re.match(r"^\([^,()]+:1\.2\), ", sdxl)
    assert sdxl.endswith("highly detailed, sharp focus")
    assert midjourney.endswith(" --ar 3:2")  # 96 x 64
    assert video.startswith("Shot type: ")
    assert "Camera motion: " in video
    assert "Action: " in video
    assert len({flux, sdxl, midjourney, video}) == 4
    assert prompts["sdxl"][1]["caption_tasks"] == ["<MORE_DETAILED_CAPTION>", "<OD>", "<DENSE_REGION_CAPTION>", "<OCR>"]
    assert prompts["video"][1]["prompt_family"] == "video"


def test_a_model_id_takes_its_familys_shape(engine: Engine) -> None:
    assert _prompt(engine, "flux-schnell") == (_prompt(engine, "flux")[0], _prompt(engine, "flux-schnell")[1])
    assert _prompt(engine, "flux-schnell")[1]["prompt_family"] == "flux"


def test_no_target_keeps_the_plain_caption(engine: Engine) -> None:
    _text, parameters = _prompt(engine, None)
    assert parameters["caption_tasks"] == ["<MORE_DETAILED_CAPTION>"]
    assert parameters["prompt_family"] is None


def test_a_family_target_over_http_and_a_bad_target_refused(studio: Studio) -> None:
    who = _member(studio)
    image = _upload(studio, who, png(96, 64))
    job = _run(studio, who, {"task": "image_to_prompt", "image": image, "target_model": "midjourney"})
    assert job["status"] == "succeeded", job
    assert job["prompt_text"].endswith("--ar 3:2")
    for bad in ("dalle", "real-esrgan-x4"):  # unknown, and a model that reads no prompt
        response = _submit(studio, who, {"task": "image_to_prompt", "image": image, "target_model": bad})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "unknown_target_model"


@pytest.mark.parametrize("target", ["flux", "sdxl"])
def test_targets_are_listed(studio: Studio, target: str) -> None:
    targets = [t["id"] for t in studio.client.get("/v1/studio").json()["prompt_targets"]]
    assert target in targets
