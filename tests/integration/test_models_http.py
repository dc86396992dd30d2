"""GET /v1/models lists what the deployment offers, with prices, and hides unlicensed non-commercial models."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from config.models import MODELS, get_model
from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database


def test_models_are_public_and_priced(client: TestClient) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    items = {item["id"]: item for item in body["items"]}
    assert set(items) == {entry.id for entry in MODELS}  # a local deployment offers everything
    schnell = items["flux-schnell"]
    assert schnell["tasks"] == ["text_to_image", "vary"]  # variations are img2img over the same weights
    assert schnell["price"]["credits_per_image"] == get_model("flux-schnell").credits_per_image
    assert {"aspect_ratio": "16:9", "width": 1344, "height": 768} in schnell["aspect_ratios"]
    assert schnell["licence"] == {
        "id": "apache-2.0",
        "commercial": True,
        "url": get_model("flux-schnell").licence.url,
    }
    upscaler = items["real-esrgan-x4"]
    assert upscaler["upscale"] == {"factor": 4, "max_long_side": 4096}
    assert upscaler["price"]["credits_per_megapixel"] > 0


@pytest.mark.parametrize(
    ("licensed", "expected_extra"),
    [
        ([], set()),
        (["flux-kontext-dev"], {"flux-kontext-dev"}),
        (["flux-1-dev-non-commercial"], {"flux-kontext-dev", "flux-fill-dev"}),
    ],
)
def test_a_paid_deployment_lists_only_licensed_models(
    db: Database, tmp_path: Path, licensed: list[str], expected_extra: set[str]
) -> None:
    settings = Settings(data_dir=tmp_path, paid=True, noncommercial_licensed=licensed)
    with TestClient(create_app(settings, db)) as client:
        items = {item["id"] for item in client.get("/v1/models").json()["items"]}
    commercial = {entry.id for entry in MODELS if entry.commercial}
    assert items == commercial | expected_extra


def test_a_paid_deployment_without_a_flux_dev_licence_sells_editing_on_flux2_klein(
    db: Database, tmp_path: Path
) -> None:
    """Kontext hidden, FLUX.2 [klein] 4B (Apache-2.0) listed for edit and named its default; inpainting likewise
    falls to Qwen-Image, the first commercial inpaint model in registry order. Once the licence is declared, Kontext
    is back as edit's built-in default."""
    settings = Settings(data_dir=tmp_path, paid=True)
    with TestClient(create_app(settings, db)) as client:
        tasks = client.get("/v1/models").json()["tasks"]
        studio = {task["id"]: task for task in client.get("/v1/studio").json()["tasks"]}
    assert tasks["edit"] == {"models": ["flux2-klein-4b"], "default_model": "flux2-klein-4b"}
    assert tasks["inpaint"] == {"models": ["qwen-image", "flux2-klein-4b"], "default_model": "qwen-image"}
    assert (studio["edit"]["models"], studio["edit"]["default_model"]) == (["flux2-klein-4b"], "flux2-klein-4b")
    licensed = Settings(data_dir=tmp_path, paid=True, noncommercial_licensed=["flux-kontext-dev"])
    with TestClient(create_app(licensed, db)) as client:
        edit = client.get("/v1/models").json()["tasks"]["edit"]
    assert edit == {"models": ["flux-kontext-dev", "flux2-klein-4b"], "default_model": "flux-kontext-dev"}


def test_an_unknown_licence_declaration_fails_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flux-dvv"):
        Settings(data_dir=tmp_path, noncommercial_licensed=["flux-dvv"])
