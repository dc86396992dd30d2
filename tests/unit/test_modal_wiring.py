"""The Modal App inspected offline: which function runs on which image, with what GPU and secrets."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import modal

from functions import modal_app, tasks

ROOT = Path(__file__).resolve().parents[2]


def same_image(a: Any, b: Any) -> bool:
    """Modal re-wraps an image's local-files layer per function; the build step underneath is the one defined."""
    return repr(a._deps_()[0]) == repr(b._deps_()[0])


def _functions() -> dict[str, modal.Function[..., Any, Any]]:
    found: dict[str, modal.Function[..., Any, Any]] = {}
    for module in (modal_app, tasks):
        found.update({name: value for name, value in vars(module).items() if isinstance(value, modal.Function)})
    return found


def test_api_is_a_cpu_web_function_with_the_production_secret() -> None:
    info = modal_app.api.info()
    assert info.gpus == []
    assert info.secrets == ["modal.Secret.from_name('atelier-production')"]
    assert info.web_info is not None
    assert same_image(modal_app.api._spec_.image, modal_app.api_image)
    assert not same_image(modal_app.api._spec_.image, modal_app.gpu_image)


def test_every_registered_function_is_known() -> None:
    assert set(_functions()) == {"api", "sync_billing"}


def test_sync_billing_runs_daily_on_the_api_image_with_the_secret() -> None:
    info = tasks.sync_billing.info()
    assert info.schedule is not None
    assert info.schedule.startswith("Cron(")
    assert info.gpus == []
    assert info.secrets == ["modal.Secret.from_name('atelier-production')"]
    assert same_image(tasks.sync_billing._spec_.image, modal_app.api_image)


def test_api_image_dependencies_carry_no_gpu_stack() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    for heavy in ("torch", "diffusers", "transformers", "accelerate"):
        assert heavy not in base
    gpu = " ".join(project["optional-dependencies"]["gpu"]).lower()
    assert "torch" in gpu
    assert "diffusers" in gpu
