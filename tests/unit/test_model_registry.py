"""The model registry: licences, pinning, sizes and prices, as pure data and functions."""

from __future__ import annotations

import re

import pytest

from config.models import (
    BY_ID,
    DEFAULT_MODEL,
    FLUX_SIZES,
    MODELS,
    TASKS,
    ModelUnavailable,
    get_model,
    model_for,
    offered_models,
    output_size,
    price,
    upscale_passes,
    upscale_size,
)
from config.settings import Settings


def test_every_task_has_a_default_model_that_does_it() -> None:
    for task in TASKS:
        assert task in get_model(DEFAULT_MODEL[task]).tasks


def test_entries_are_complete() -> None:
    for entry in MODELS:
        assert entry.repo.count("/") == 1
        assert entry.pinned == (len(entry.revision) == 40)
        assert entry.weights_path == f"{entry.repo}/{entry.revision}"
        if "text_to_image" in entry.tasks or "edit" in entry.tasks or "inpaint" in entry.tasks:
            assert entry.credits_per_image > 0
            assert all(w % 16 == 0 and h % 16 == 0 for w, h in entry.sizes.values())
    assert get_model("flux-schnell").commercial
    assert not get_model("flux-kontext-dev").commercial


def test_a_paid_deployment_refuses_non_commercial_models_without_a_declared_licence() -> None:
    paid = Settings(paid=True)
    offered = {entry.id for entry in offered_models(paid)}
    assert offered == {entry.id for entry in MODELS if entry.commercial}
    with pytest.raises(ModelUnavailable) as refused:
        model_for(paid, "edit", "flux-kontext-dev")
    assert refused.value.code == "model_not_licensed"
    assert "ATELIER_NONCOMMERCIAL_LICENSED" in refused.value.message


def test_a_task_whose_default_a_paid_deployment_may_not_offer_falls_to_its_first_commercial_model() -> None:
    """GET /v1/models names the first offered model as such a task's default; a job naming no model runs on it."""
    paid = Settings(paid=True)
    assert model_for(paid, "edit").id == "flux2-klein-4b"  # not FLUX.1 Kontext [dev]
    assert model_for(paid, "inpaint").id == "qwen-image"  # not FLUX.1 Fill [dev]
    assert model_for(paid, "text_to_image").id == "flux-schnell"  # commercial already: unchanged
    licensed = Settings(paid=True, noncommercial_licensed=["flux-kontext-dev"])
    assert model_for(licensed, "edit").id == "flux-kontext-dev"  # the built-in default, once licensed
    assert model_for(Settings(), "edit").id == "flux-kontext-dev"  # an unpaid deployment offers everything


def test_a_declared_licence_admits_the_model_by_id_or_by_licence() -> None:
    by_id = Settings(paid=True, noncommercial_licensed=["flux-kontext-dev"])
    assert model_for(by_id, "edit").id == "flux-kontext-dev"
    with pytest.raises(ModelUnavailable):
        model_for(by_id, "inpaint", "flux-fill-dev")
    by_licence = Settings(paid=True, noncommercial_licensed=["flux-1-dev-non-commercial"])
    assert {e.id for e in offered_models(by_licence)} == set(BY_ID)


def test_an_unknown_declared_licence_fails_loudly() -> None:
    with pytest.raises(ValueError, match="flux-dve"):
        offered_models(Settings(paid=True, noncommercial_licensed=["flux-dve"]))


def test_local_deployments_offer_everything_and_production_is_paid() -> None:
    assert len(offered_models(Settings())) == len(MODELS)
    assert not Settings().is_paid
    assert Settings(paid=False).is_paid is False


def test_settings_read_the_licence_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_NONCOMMERCIAL_LICENSED", " flux-fill-dev , flux-kontext-dev,")
    monkeypatch.setenv("ATELIER_MODEL_SOURCE", "volume")
    settings = Settings()
    assert settings.noncommercial_licensed == ["flux-fill-dev", "flux-kontext-dev"]
    assert settings.model_source == "volume"


def test_model_for_rejects_unknown_models_and_wrong_tasks() -> None:
    with pytest.raises(ModelUnavailable) as unknown:
        model_for(Settings(), "text_to_image", "dall-e")
    assert unknown.value.code == "unknown_model"
    with pytest.raises(ModelUnavailable) as mismatch:
        model_for(Settings(), "upscale", "flux-schnell")
    assert mismatch.value.code == "model_task_mismatch"


def test_output_sizes_follow_the_aspect_ratio() -> None:
    schnell = get_model("flux-schnell")
    assert output_size(schnell, None) == (1024, 1024)
    assert output_size(schnell, "16:9") == FLUX_SIZES["16:9"]
    with pytest.raises(ModelUnavailable) as bad:
        output_size(schnell, "5:1")
    assert bad.value.code == "bad_size"


def test_upscale_size_arithmetic_reaches_4096() -> None:
    assert upscale_size(1024, 768, 4096) == (4096, 3072)
    assert upscale_size(768, 1344, 4096) == (2341, 4096)
    assert upscale_size(64, 48, 256) == (256, 192)
    for bad_target in (4097, 1024, 10):
        with pytest.raises(ValueError, match="long side"):
            upscale_size(1024, 768, bad_target)
    with pytest.raises(ValueError, match="16x"):
        upscale_size(200, 100, 4096)
    esrgan = get_model("real-esrgan-x4")
    assert upscale_passes(esrgan, 1024, 4096) == 1
    assert upscale_passes(esrgan, 1024, 2048) == 1
    assert upscale_passes(esrgan, 512, 4096) == 2


def test_prices() -> None:
    schnell, kontext, esrgan = get_model("flux-schnell"), get_model("flux-kontext-dev"), get_model("real-esrgan-x4")
    assert price(schnell, "text_to_image", 3, 1024, 1024) == 3 * schnell.credits_per_image
    assert price(kontext, "edit", 1, 1024, 1024) == kontext.credits_per_image
    # 4096x3072 = 12.58 MP → 13 started megapixels
    assert price(esrgan, "upscale", 1, 4096, 3072) == 13 * esrgan.credits_per_megapixel
    assert price(esrgan, "upscale", 1, 256, 192) == esrgan.credits_per_megapixel
    with pytest.raises(ValueError, match="count"):
        price(schnell, "text_to_image", 5, 1024, 1024)
    with pytest.raises(ModelUnavailable):
        price(schnell, "upscale", 1, 1024, 1024)


# Models without a row in bench/gpu.py yet, each with the reason; the test below fails for any other model.
NOT_BENCHED: dict[str, str] = {"florence-2-base": "no Florence-2 captioning bench at full size yet (issue 30)"}


def test_every_model_has_a_licence_a_pin_or_lock_a_tiny_build_and_a_bench_row() -> None:
    from bench.gpu import ROWS
    from functions.generation.tiny import BUILDERS

    benched = {(model_id, task) for model_id, task in ROWS}
    for entry in MODELS:
        assert entry.licence.id, entry.id
        assert entry.licence.url.startswith("https://"), entry.id
        # A full commit, or a branch that `deploy.py weights` resolves and locks (shared/weights.py).
        assert entry.pinned or re.fullmatch(r"[A-Za-z0-9._/-]+", entry.revision), entry.id
        assert entry.family in BUILDERS, f"{entry.id} has no tiny offline build"
        if entry.id in NOT_BENCHED:
            continue
        for task in entry.tasks:
            if task == "vary":  # img2img over the create model's transformer: the text_to_image row covers it
                continue
            assert (entry.id, task) in benched, f"bench/gpu.py has no row for {entry.id} {task}"
    assert set(NOT_BENCHED) <= set(BY_ID)


def test_qwen_image_is_commercial_and_offered_to_a_paid_deployment_for_create_and_inpaint() -> None:
    paid = Settings(paid=True)
    qwen = get_model("qwen-image")
    assert qwen.commercial
    assert qwen.licence.id == "apache-2.0"
    assert model_for(paid, "text_to_image", "qwen-image") is qwen
    assert model_for(paid, "inpaint", "qwen-image") is qwen
    with pytest.raises(ModelUnavailable) as mismatch:
        model_for(paid, "edit", "qwen-image")
    assert mismatch.value.code == "model_task_mismatch"


def test_flux2_klein_4b_is_commercial_and_offered_to_a_paid_deployment_for_edit_create_and_inpaint() -> None:
    """The commercially usable edit model: Apache-2.0 (the 9B variants are not), locked from a branch on the volume,
    step-distilled (4 steps, no guidance control), a tiny build, bench rows for each task and its own GPU class."""
    from huggingface_hub.utils._paths import filter_repo_objects  # what snapshot_download filters with

    from bench.gpu import ROWS
    from functions.generation.tiny import BUILDERS
    from functions.job_routing import ALSO_LOADS, CLASS_FOR_MODEL

    paid = Settings(paid=True)
    klein = get_model("flux2-klein-4b")
    assert klein.repo == "black-forest-labs/FLUX.2-klein-4B"  # 4B: the 9B [klein] models are non-commercial
    assert klein.commercial
    assert klein.licence.id == "apache-2.0"
    assert not klein.pinned
    assert klein.revision == "main"  # `deploy.py weights` resolves and locks it (shared/weights.py)
    assert klein.pipeline == "Flux2KleinPipeline"
    # `deploy.py weights` fetches the diffusers folders, the tokenizer's chat template (Flux2KleinPipeline applies
    # it to every prompt) included, and not the original-format single file at the repository's root.
    files = [
        "model_index.json",
        "flux-2-klein-4b.safetensors",
        "tokenizer/chat_template.jinja",
        "tokenizer/tokenizer_config.json",
        "text_encoder/model-00001-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors",
    ]
    fetched = list(filter_repo_objects(files, allow_patterns=list(klein.allow_patterns)))
    assert fetched == [name for name in files if name != "flux-2-klein-4b.safetensors"]
    assert klein.family in BUILDERS
    assert {("flux2-klein-4b", task) for task in ("text_to_image", "edit", "inpaint")} <= set(ROWS)
    assert (klein.default_steps, klein.steps_range) == (4, (1, 4))
    assert klein.guidance_kind == "none"
    assert "guidance" not in klein.controls
    assert "negative_prompt" not in klein.controls
    assert klein.credits_per_image > 0
    assert model_for(paid, "edit", "flux2-klein-4b") is klein
    assert model_for(paid, "text_to_image", "flux2-klein-4b") is klein
    assert model_for(paid, "inpaint", "flux2-klein-4b") is klein  # Flux2KleinInpaintPipeline over the same weights
    with pytest.raises(ModelUnavailable) as mismatch:
        model_for(paid, "vary", "flux2-klein-4b")
    assert mismatch.value.code == "model_task_mismatch"
    assert CLASS_FOR_MODEL["flux2-klein-4b"] == "Flux2Klein"
    assert ALSO_LOADS["Flux2Klein"] == ("real-esrgan-x4",)  # "4k" edits and creates upscale in the same job
    # A paid deployment without declared licences: edit is sold, with Kontext hidden.
    edit_models = [entry.id for entry in offered_models(paid) if "edit" in entry.tasks]
    assert edit_models == ["flux2-klein-4b"]
