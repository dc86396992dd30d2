"""Issue 30: a real choice of model per task, and the controls a model takes (negative_prompt, guidance, steps,
output_format) over HTTP with the real worker and tiny pipelines; a control the model does not take is 422
`unsupported_control`, a value outside its bounds 422 `control_out_of_range` with the range."""

from __future__ import annotations

from typing import Any

from tests.generation import test_jobs_http as base
from tests.generation.conftest import png
from tests.generation.test_jobs_http import Studio, _member, _submit, _upload
from tests.generation.test_studio_jobs import _run

studio_factory = base.studio_factory
studio = base.studio


def _error(response: Any, code: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def test_models_list_speed_controls_defaults_and_each_tasks_models(studio: Studio) -> None:
    body = studio.client.get("/v1/models").json()
    models = {item["id"]: item for item in body["items"]}
    schnell, kontext = models["flux-schnell"], models["flux-kontext-dev"]
    assert schnell["speed"] == "fast"
    assert schnell["controls"] == ["steps", "output_format"]
    assert schnell["defaults"] == {"steps": 4, "output_format": "webp"}
    assert schnell["steps_range"] == {"min": 1, "max": 4}
    assert "guidance" not in schnell  # guidance-free
    assert kontext["speed"] == "quality"
    assert set(kontext["controls"]) == {"negative_prompt", "guidance", "steps", "output_format"}
    assert kontext["defaults"]["guidance"] == 2.5
    assert kontext["guidance"] == {"kind": "distilled", "min": 1.0, "max": 10.0}
    assert models["florence-2-base"]["controls"] == []
    assert body["tasks"]["text_to_image"]["default_model"] == "flux-schnell"
    assert "flux-schnell" in body["tasks"]["text_to_image"]["models"]
    targets = {target["id"]: target for target in body["prompt_targets"]}
    assert {"flux", "sdxl", "midjourney", "video"} <= set(targets)
    assert targets["flux-schnell"]["family"] == "flux"


def test_edit_offers_flux2_klein_beside_kontext_with_only_steps_and_output_format(studio: Studio) -> None:
    """FLUX.2 [klein] 4B is step- and guidance-distilled: 4 steps at most, no guidance, no negative prompt."""
    body = studio.client.get("/v1/models").json()
    klein = {item["id"]: item for item in body["items"]}["flux2-klein-4b"]
    assert klein["tasks"] == ["text_to_image", "edit", "inpaint"]
    assert klein["speed"] == "fast"
    assert klein["controls"] == ["steps", "output_format"]
    assert klein["defaults"] == {"steps": 4, "output_format": "webp"}
    assert klein["steps_range"] == {"min": 1, "max": 4}
    assert "guidance" not in klein
    assert klein["licence"]["id"] == "apache-2.0"
    assert klein["licence"]["commercial"] is True
    assert body["tasks"]["edit"] == {
        "models": ["flux-kontext-dev", "flux2-klein-4b"],
        "default_model": "flux-kontext-dev",
    }
    assert "flux2-klein-4b" in body["tasks"]["text_to_image"]["models"]
    assert {t["id"]: t["family"] for t in body["prompt_targets"]}["flux2-klein-4b"] == "flux"
    who = _member(studio)
    image = _upload(studio, who, png(64, 64))
    edit = {"task": "edit", "prompt": "make it blue", "image": image, "model": "flux2-klein-4b"}
    for control, value in (("guidance", 2.0), ("negative_prompt", "blur")):
        error = _error(_submit(studio, who, {**edit, control: value}), "unsupported_control")
        assert error["details"]["control"] == control
    error = _error(_submit(studio, who, {**edit, "steps": 8}), "control_out_of_range")
    assert error["details"] == {"control": "steps", "model": "flux2-klein-4b", "min": 1, "max": 4}


def test_the_operator_picks_each_tasks_default_model(studio_factory: Any) -> None:
    chosen: Studio = studio_factory(default_models={"vary": "flux-schnell", "text_to_image": "flux-schnell"})
    studio_doc = chosen.client.get("/v1/studio").json()
    assert {t["id"]: t["default_model"] for t in studio_doc["tasks"]}["text_to_image"] == "flux-schnell"
    by_task = chosen.client.get("/v1/models").json()["tasks"]
    assert by_task["vary"]["default_model"] == "flux-schnell"


def test_guidance_on_flux_schnell_is_unsupported_and_named(studio: Studio) -> None:
    who = _member(studio)
    error = _error(
        _submit(studio, who, {"task": "text_to_image", "prompt": "a fox", "guidance": 3.5}), "unsupported_control"
    )
    assert "guidance" in error["message"]
    assert error["details"]["control"] == "guidance"
    assert error["details"]["supported"] == ["steps", "output_format"]


def test_negative_prompt_on_a_model_without_it_is_unsupported(studio: Studio) -> None:
    who = _member(studio)
    response = _submit(studio, who, {"task": "text_to_image", "prompt": "a fox", "negative_prompt": "blur"})
    assert _error(response, "unsupported_control")["details"]["control"] == "negative_prompt"


def test_output_format_on_image_to_prompt_is_unsupported(studio: Studio) -> None:
    who = _member(studio)
    image = _upload(studio, who, png(64, 64))
    response = _submit(studio, who, {"task": "image_to_prompt", "image": image, "output_format": "png"})
    assert _error(response, "unsupported_control")["details"]["control"] == "output_format"


def test_steps_outside_the_models_bounds_answer_the_range(studio: Studio) -> None:
    who = _member(studio)
    error = _error(
        _submit(studio, who, {"task": "text_to_image", "prompt": "a fox", "steps": 8}), "control_out_of_range"
    )
    assert "1 to 4" in error["message"]
    assert error["details"] == {"control": "steps", "model": "flux-schnell", "min": 1, "max": 4}


def test_guidance_outside_the_models_bounds_answers_the_range(studio: Studio) -> None:
    who = _member(studio)
    image = _upload(studio, who, png(64, 64))
    body = {"task": "edit", "prompt": "make it blue", "image": image, "guidance": 12.0}
    error = _error(_submit(studio, who, body), "control_out_of_range")
    assert (error["details"]["min"], error["details"]["max"]) == (1.0, 10.0)


def test_schema_bounds_still_refuse_nonsense(studio: Studio) -> None:
    who = _member(studio)
    assert _submit(studio, who, {"task": "text_to_image", "prompt": "a", "steps": 0}).status_code == 422
    assert _submit(studio, who, {"task": "text_to_image", "prompt": "a", "output_format": "gif"}).status_code == 422


def test_steps_and_output_format_reach_the_render(studio: Studio) -> None:
    who = _member(studio)
    job = _run(studio, who, {"task": "text_to_image", "prompt": "a fox", "steps": 2, "output_format": "png"})
    assert job["status"] == "succeeded", job
    assert job["steps"] == 2  # the render ran the steps asked for
    assert (job["steps_asked"], job["output_format"]) == (2, "png")
    assert job["outputs"][0]["content_type"] == "image/png"
    jpeg = _run(studio, who, {"task": "text_to_image", "prompt": "a fox", "output_format": "jpeg"})
    assert jpeg["outputs"][0]["content_type"] == "image/jpeg"


def test_a_negative_prompt_and_guidance_reach_an_edit_on_kontext(studio: Studio) -> None:
    who = _member(studio)
    image = _upload(studio, who, png(64, 64))
    body = {
        "task": "edit",
        "prompt": "make it blue",
        "image": image,
        "negative_prompt": "blurry\nwatermark",
        "guidance": 4.0,
        "steps": 2,
        "output_format": "webp",
    }
    job = _run(studio, who, body)
    assert job["status"] == "succeeded", job
    assert job["model"] == "flux-kontext-dev"
    assert (job["negative_prompt"], job["guidance"], job["steps"]) == ("blurry\nwatermark", 4.0, 2)
    assert job["outputs"][0]["content_type"] == "image/webp"
