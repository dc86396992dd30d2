"""GET /v1/models: the models this deployment offers, with their tasks, sizes and prices. Public."""

from typing import Any

from fastapi import APIRouter

from config.models import (
    MAX_UPSCALE_LONG_SIDE,
    PROMPT_FAMILIES,
    PROMPT_FAMILY_LABELS,
    TASKS,
    ModelEntry,
    ModelUnavailable,
    model_for,
    offered_models,
)
from config.settings import Settings
from functions.api.deps import AppSettings
from functions.api.ratelimits import rate_limited

router = APIRouter(tags=["models"], dependencies=[rate_limited("public")])


def describe(entry: ModelEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id,
        "name": entry.name,
        "tasks": list(entry.tasks),
        "aspect_ratios": [
            {"aspect_ratio": ratio, "width": width, "height": height} for ratio, (width, height) in entry.sizes.items()
        ],
        "price": {"credits_per_image": entry.credits_per_image, "credits_per_megapixel": entry.credits_per_megapixel},
        "default_steps": entry.default_steps,
        "default_guidance": entry.default_guidance,
        "licence": {"id": entry.licence.id, "commercial": entry.commercial, "url": entry.licence.url},
        "speed": entry.speed,
        "controls": list(entry.controls),
        "defaults": entry.default_settings(),
    }
    # Present only where they apply, as `upscale`: steps_range / guidance where the model takes that control.
    if "steps" in entry.controls:
        item["steps_range"] = {"min": entry.steps_range[0], "max": entry.steps_range[1]}
    if "guidance" in entry.controls:
        item["guidance"] = {"kind": entry.guidance_kind, "min": entry.guidance_range[0], "max": entry.guidance_range[1]}
    if entry.prompt_family is not None:
        item["prompt_family"] = entry.prompt_family
    if "upscale" in entry.tasks:
        item["upscale"] = {"factor": entry.upscale_factor, "max_long_side": MAX_UPSCALE_LONG_SIDE}
    return item


def by_task(settings: Settings, models: tuple[ModelEntry, ...]) -> dict[str, dict[str, Any]]:
    """task → the offered models that do it (ids, in registry order) and its default here (the operator's)."""
    tasks: dict[str, dict[str, Any]] = {}
    for task in TASKS:
        ids = [entry.id for entry in models if task in entry.tasks]
        try:
            default: str | None = model_for(settings, task).id
        except ModelUnavailable:
            default = ids[0] if ids else None
        tasks[task] = {"models": ids, "default_model": default}
    return tasks


def prompt_targets(models: tuple[ModelEntry, ...]) -> list[dict[str, Any]]:
    """What image-to-prompt's `target_model` takes: the families, then each offered model that reads a prompt."""
    families = [{"id": f, "label": PROMPT_FAMILY_LABELS[f], "family": f, "model": None} for f in PROMPT_FAMILIES]
    return families + [
        {"id": entry.id, "label": entry.name, "family": entry.prompt_family, "model": entry.id}
        for entry in models
        if entry.prompt_family is not None
    ]


@router.get("/v1/models", summary="The models this deployment offers, with prices in credits")
def list_models(settings: AppSettings) -> dict[str, Any]:
    """Every model this deployment may sell (a non-commercial one only where the operator declares its licence),
    each with its licence, price, speed class, `controls` (POST /v1/jobs fields it accepts beyond the common ones)
    and their `defaults`; `tasks` names each task's models and default; `prompt_targets` what image-to-prompt's
    `target_model` takes."""
    models = offered_models(settings)
    return {
        "items": [describe(entry) for entry in models],
        "next_cursor": None,
        "tasks": by_task(settings, models),
        "prompt_targets": prompt_targets(models),
    }
