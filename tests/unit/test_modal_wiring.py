"""The Modal App inspected offline: which function runs on which image, with what GPU and secrets."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import modal

from functions import deployment, modal_app, tasks
from shared.tasks.runner import TaskDef

ROOT = Path(__file__).resolve().parents[2]


def same_image(a: Any, b: Any) -> bool:
    """Modal re-wraps an image's local-files layer per function; the build step underneath is the one defined."""
    return repr(a._deps_()[0]) == repr(b._deps_()[0])


def _functions() -> dict[str, modal.Function[..., Any, Any]]:
    """Every Modal function the deployment module pulls in, by attribute name."""
    found: dict[str, modal.Function[..., Any, Any]] = {}
    for module in (modal_app, *(vars(deployment)[name] for name in deployment.__all__ if name != "app")):
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
    assert set(_functions()) == {"api", *(f"{name.replace('-', '_')}_task" for name in tasks.TASKS)}


def test_every_task_is_scheduled_on_the_api_image_without_gpu() -> None:
    for name, task in tasks.TASKS.items():
        function = _functions()[f"{name.replace('-', '_')}_task"]
        info = function.info()
        assert info.gpus == []
        assert info.secrets == ["modal.Secret.from_name('atelier-production')"]
        if task.schedule.startswith("every "):
            assert info.schedule == f"Period(seconds={task.every_seconds})"
        else:
            assert info.schedule == f"Cron('{task.schedule}', UTC)"
        assert same_image(function._spec_.image, modal_app.api_image)


def test_api_image_dependencies_carry_no_gpu_stack() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    for heavy in ("torch", "diffusers", "transformers", "accelerate"):
        assert heavy not in base
    gpu = " ".join(project["optional-dependencies"]["gpu"]).lower()
    assert "torch" in gpu
    assert "diffusers" in gpu


def test_local_scheduler_intervals_follow_the_schedules() -> None:
    assert TaskDef("a", "every 30s", lambda db, now: 0, "").every_seconds == 30.0
    assert TaskDef("b", "* * * * *", lambda db, now: 0, "").every_seconds == 60.0
    assert TaskDef("c", "*/5 * * * *", lambda db, now: 0, "").every_seconds == 300.0
    assert TaskDef("d", "7 * * * *", lambda db, now: 0, "").every_seconds == 3600.0
    assert TaskDef("e", "17 3 * * *", lambda db, now: 0, "").every_seconds == 86400.0
