"""GET /v1/models: the models this deployment offers, with their tasks, sizes and prices. Public."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from config.models import MAX_UPSCALE_LONG_SIDE, ModelEntry, offered_models
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
    }
    if "upscale" in entry.tasks:
        item["upscale"] = {"factor": entry.upscale_factor, "max_long_side": MAX_UPSCALE_LONG_SIDE}
    return item


@router.get("/v1/models", summary="The models this deployment offers, with prices in credits")
def list_models(settings: AppSettings) -> dict[str, Any]:
    return {"items": [describe(entry) for entry in offered_models(settings)], "next_cursor": None}
