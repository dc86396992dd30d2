"""Issue 30 registry rules: every model states its speed and controls with sane bounds and defaults; the operator's
default model per task (ATELIER_DEFAULT_MODELS) is checked against the registry and the licence gate."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.models import CONTROLS, MODELS, PROMPT_FAMILIES, ModelUnavailable, model_for, prompt_family
from config.settings import Settings


@pytest.mark.parametrize("entry", MODELS, ids=lambda e: e.id)
def test_every_model_states_speed_controls_and_defaults_within_its_bounds(entry: object) -> None:
    from config.models import ModelEntry

    assert isinstance(entry, ModelEntry)
    assert entry.speed in ("fast", "quality")
    assert set(entry.controls) <= set(CONTROLS)
    defaults = entry.default_settings()
    assert set(defaults) == set(entry.controls)
    if "steps" in entry.controls:
        assert entry.steps_range[0] <= entry.default_steps <= entry.steps_range[1]
    if "guidance" in entry.controls:
        assert entry.guidance_kind != "none"
        assert entry.guidance_range[0] <= entry.default_guidance <= entry.guidance_range[1]
    if any(task in entry.tasks for task in ("text_to_image", "edit", "inpaint")):
        assert entry.prompt_family in PROMPT_FAMILIES  # image-to-prompt can write for it


def test_flux_schnell_takes_no_guidance_and_no_negative_prompt() -> None:
    schnell = next(entry for entry in MODELS if entry.id == "flux-schnell")
    assert "guidance" not in schnell.controls
    assert "negative_prompt" not in schnell.controls


def test_the_operator_picks_a_default_and_a_wrong_one_fails_at_startup() -> None:
    settings = Settings(default_models="edit=flux-kontext-dev, upscale=real-esrgan-x4")
    assert settings.default_models == {"edit": "flux-kontext-dev", "upscale": "real-esrgan-x4"}
    assert model_for(settings, "edit").id == "flux-kontext-dev"
    for bad, says in [
        ("edit=flux-schnell", "does not do edit"),
        ("paint=flux-schnell", "unknown task"),
        ("edit=flux-kontext-pro", "unknown model"),
        ("edit", "TASK=MODEL_ID"),
    ]:
        with pytest.raises(ValidationError, match=says):
            Settings(default_models=bad)
    with pytest.raises(ValidationError, match="forbids commercial use"):
        Settings(default_models="edit=flux-kontext-dev", paid=True)
    licensed = Settings(default_models="edit=flux-kontext-dev", paid=True, noncommercial_licensed="flux-kontext-dev")
    assert model_for(licensed, "edit").id == "flux-kontext-dev"


def test_prompt_targets_are_families_or_models_that_read_prompts() -> None:
    assert prompt_family("sdxl") == "sdxl"
    assert prompt_family("flux-kontext-dev") == "flux"
    for bad in ("dalle", "florence-2-base"):
        with pytest.raises(ModelUnavailable):
            prompt_family(bad)
