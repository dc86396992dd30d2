"""The engine on the tiny offline pipelines: every task, sizes, determinism, progress, cancel and errors."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from config.models import get_model
from config.settings import Settings
from functions.generation.engine import (
    Engine,
    RenderCanceled,
    RenderFailed,
    RenderRequest,
    RenderResult,
    TinySource,
    VolumeSource,
    engine_for,
    klein_reference,
    scaled_size,
)
from functions.generation.tiny import ensure_tiny
from tests.generation.conftest import png, size_of


def t2i(**overrides: object) -> RenderRequest:
    fields: dict[str, object] = {
        "task": "text_to_image",
        "model": "flux-schnell",
        "prompt": "a red fox in the snow",
        "width": 64,
        "height": 48,
        "seed": 7,
    }
    fields.update(overrides)
    return RenderRequest(**fields)  # type: ignore[arg-type]


def test_models_load_through_from_pretrained_as_the_registry_names(engine: Engine, tiny_root: Path) -> None:
    for model_id in ("flux-schnell", "flux-kontext-dev", "flux-fill-dev", "real-esrgan-x4", "florence-2-base"):
        entry = get_model(model_id)
        loaded = engine.load(model_id)
        assert type(loaded.model).__name__ == entry.pipeline
        assert engine.load(model_id) is loaded  # once per process
        assert (tiny_root / entry.family).is_dir()
    assert (tiny_root / "flux" / "model_index.json").exists()


def test_text_to_image_renders_count_images_of_the_requested_size(engine: Engine) -> None:
    progress: list[float] = []
    result = engine.render(t2i(count=2), on_progress=progress.append, should_cancel=lambda: False)
    assert len(result.images) == 2
    for image in result.images:
        assert (image.width, image.height) == (64, 48)
        assert size_of(image.data) == (64, 48)
        assert image.content_type == "image/webp"
        assert image.data[:4] == b"RIFF"
    assert result.seed == 7
    assert result.parameters["steps"] == get_model("flux-schnell").default_steps
    assert progress == sorted(progress)
    assert progress[0] > 0
    assert progress[-1] == 1.0
    assert len(progress) >= result.parameters["steps"]


def test_same_seed_same_bytes_other_seed_other_bytes(engine: Engine) -> None:
    first = engine.render(t2i(seed=11, output_format="png"))
    again = engine.render(t2i(seed=11, output_format="png"))
    other = engine.render(t2i(seed=12, output_format="png"))
    assert first.images[0].data == again.images[0].data
    assert first.images[0].data != other.images[0].data
    assert first.images[0].content_type == "image/png"


def test_a_missing_seed_is_drawn_and_recorded(engine: Engine) -> None:
    result = engine.render(t2i(seed=None, steps=1))
    assert isinstance(result.seed, int)
    assert result.parameters["seed"] == result.seed
    replay = engine.render(t2i(seed=result.seed, steps=1))
    assert replay.images[0].data == result.images[0].data


def test_cancel_after_the_first_step_stops_the_render(engine: Engine) -> None:
    progress: list[float] = []
    with pytest.raises(RenderCanceled):
        engine.render(t2i(steps=4), on_progress=progress.append, should_cancel=lambda: bool(progress))
    assert progress == [0.25]


def test_edit_renders_at_the_requested_size(engine: Engine) -> None:
    request = RenderRequest(
        task="edit", model="flux-kontext-dev", prompt="make it blue", image=png(80, 60), width=64, height=48, seed=1
    )
    result = engine.render(request, on_progress=lambda _: None, should_cancel=lambda: False)
    assert [(i.width, i.height) for i in result.images] == [(64, 48)]
    assert result.parameters["steps"] == 4  # the tiny source caps the registry's 28 default steps
    assert size_of(result.images[0].data) == (64, 48)


def test_edit_without_a_size_follows_the_input(engine: Engine) -> None:
    request = RenderRequest(task="edit", model="flux-kontext-dev", prompt="x", image=png(70, 50), seed=1, steps=2)
    result = engine.render(request)
    assert (result.images[0].width, result.images[0].height) == (64, 48)


def test_flux2_klein_edits_any_input_deterministically_with_the_reference_in_the_sequence_and_inpaints(
    engine: Engine,
) -> None:
    """FLUX.2 [klein] 4B's tiny Flux2KleinPipeline (loaded through from_pretrained as the registry names it): an edit
    follows its input's size, passes the input itself as the reference (a 40 px one enlarged to the 64 px the
    pipeline accepts), renders `count` images, the same bytes for the same seed and other bytes for another input;
    it creates, and inpaints through Flux2KleinInpaintPipeline over the same components."""
    loaded = engine.load("flux2-klein-4b")
    assert type(loaded.model).__name__ == "Flux2KleinPipeline"
    assert loaded.model.config.is_distilled  # guidance ignored, as the published checkpoint

    def edit(image: bytes, seed: int = 5, count: int = 1) -> RenderResult:
        request = RenderRequest(task="edit", model="flux2-klein-4b", prompt="make it blue", image=image, seed=seed,
                                count=count)  # fmt: skip
        return engine.render(request)

    first = edit(png(70, 40), count=2)
    assert [(i.width, i.height) for i in first.images] == [(64, 32), (64, 32)]
    assert size_of(first.images[0].data) == (64, 32)
    assert first.parameters["steps"] == 4
    assert first.parameters["guidance"] == 1.0
    assert edit(png(70, 40), count=2).images == first.images
    assert edit(png(70, 40, color=(20, 20, 220)), count=2).images != first.images  # the reference reaches it
    assert klein_reference(Image.new("RGB", (70, 40))).size == (112, 64)
    assert klein_reference(Image.new("RGB", (640, 480))).size == (640, 480)
    create = engine.render(t2i(model="flux2-klein-4b", width=96, height=64, steps=2))
    assert size_of(create.images[0].data) == (96, 64)
    mask = Image.new("L", (80, 60), 0)
    mask.paste(255, (20, 15, 60, 45))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    inpaint = RenderRequest(task="inpaint", model="flux2-klein-4b", prompt="a door", image=png(80, 60),
                            mask=buffer.getvalue(), width=64, height=48, seed=2, count=2)  # fmt: skip
    painted = engine.render(inpaint)
    assert [size_of(i.data) for i in painted.images] == [(64, 48), (64, 48)]
    assert type(loaded.variants["inpaint"]).__name__ == "Flux2KleinInpaintPipeline"
    assert loaded.variants["inpaint"].transformer is loaded.model.transformer  # one copy of the weights


def test_inpaint_renders_at_the_requested_size(engine: Engine) -> None:
    request = RenderRequest(
        task="inpaint",
        model="flux-fill-dev",
        prompt="a hat",
        image=png(64, 64),
        mask=png(64, 64, (255, 255, 255)),
        width=48,
        height=64,
        seed=3,
        steps=3,
    )
    result = engine.render(request)
    assert [(i.width, i.height) for i in result.images] == [(48, 64)]
    assert result.parameters["steps"] == 3


def test_upscale_reaches_the_requested_long_side(engine: Engine) -> None:
    progress: list[float] = []
    request = RenderRequest(task="upscale", model="real-esrgan-x4", image=png(64, 48), target_long_side=256)
    result = engine.render(request, on_progress=progress.append)
    assert [(i.width, i.height) for i in result.images] == [(256, 192)]
    assert size_of(result.images[0].data) == (256, 192)
    assert result.parameters["passes"] == 1
    assert progress[-1] == 1.0
    two_passes = engine.render(
        RenderRequest(task="upscale", model="real-esrgan-x4", image=png(20, 10), target_long_side=300)
    )
    assert (two_passes.images[0].width, two_passes.images[0].height) == (300, 150)
    assert two_passes.parameters["passes"] == 2


def test_image_to_prompt_gives_non_empty_text(engine: Engine) -> None:
    request = RenderRequest(
        task="image_to_prompt", model="florence-2-base", image=png(64, 48), target_model="flux-schnell"
    )
    result = engine.render(request)
    assert result.prompt_text
    assert result.prompt_text.strip() == result.prompt_text
    assert result.images == ()
    assert engine.render(request).prompt_text == result.prompt_text


def test_image_to_prompt_can_be_canceled(engine: Engine) -> None:
    request = RenderRequest(task="image_to_prompt", model="florence-2-base", image=png(32, 32))
    calls: list[float] = []
    with pytest.raises(RenderCanceled):
        engine.render(request, on_progress=calls.append, should_cancel=lambda: len(calls) >= 2)
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (
            RenderRequest(
                task="edit", model="flux-kontext-dev", prompt="x", image=b"not an image", width=64, height=64
            ),
            "invalid_image",
        ),
        (RenderRequest(task="upscale", model="real-esrgan-x4", image=b"\x89PNG\r\n\x1a\n broken"), "invalid_image"),
        (
            RenderRequest(task="inpaint", model="flux-fill-dev", prompt="x", image=png(32, 32), width=32, height=32),
            "missing_input",
        ),
        (
            RenderRequest(task="upscale", model="real-esrgan-x4", image=png(64, 48), target_long_side=5000),
            "invalid_size",
        ),
        (RenderRequest(task="text_to_image", model="flux-schnell", prompt="x", width=50, height=64), "invalid_size"),
        (
            RenderRequest(task="text_to_image", model="flux-schnell", prompt="x", width=64, height=64, count=5),
            "invalid_count",
        ),
        (RenderRequest(task="text_to_image", model="flux-schnell", prompt=" ", width=64, height=64), "missing_prompt"),
        (RenderRequest(task="upscale", model="flux-schnell", image=png(8, 8)), "model_task_mismatch"),
        (RenderRequest(task="text_to_image", model="no-such-model", prompt="x"), "unknown_model"),
    ],
)
def test_bad_input_raises_render_failed_with_a_code(engine: Engine, request_: RenderRequest, code: str) -> None:
    with pytest.raises(RenderFailed) as failed:
        engine.render(request_)
    assert failed.value.code == code
    assert failed.value.message


def test_an_error_inside_the_pipeline_surfaces_as_render_failed(engine: Engine) -> None:
    def broken_check() -> bool:
        raise ConnectionError("the job store is unreachable")

    progress: list[float] = []
    with pytest.raises(RenderFailed) as failed:
        engine.render(
            t2i(steps=2), on_progress=progress.append, should_cancel=lambda: bool(progress) and broken_check()
        )
    assert failed.value.code == "render_error"
    assert "ConnectionError" in failed.value.message


def test_corrupt_weights_surface_as_render_failed(tmp_path: Path, tiny_root: Path) -> None:
    entry = get_model("flux-schnell")
    snapshot = tmp_path / entry.repo / entry.revision
    shutil.copytree(ensure_tiny("flux", tiny_root), snapshot)
    weights = next((snapshot / "transformer").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(RenderFailed) as failed:
        Engine(VolumeSource(tmp_path), device="cpu").render(t2i())
    assert failed.value.code == "model_load_failed"


def test_results_round_trip_as_plain_dicts(engine: Engine) -> None:
    result = engine.render(t2i(steps=1))
    again = RenderResult.from_dict(result.to_dict())
    assert again == result
    request = t2i()
    assert RenderRequest.from_dict(request.to_dict()) == request


def test_the_volume_layout_loads_the_same_code(tmp_path: Path, tiny_root: Path) -> None:
    entry = get_model("flux-schnell")
    snapshot = tmp_path / "weights" / entry.repo / entry.revision
    shutil.copytree(ensure_tiny("flux", tiny_root), snapshot)
    volume_engine = Engine(VolumeSource(tmp_path / "weights"), device="cpu")
    tiny_engine = Engine(TinySource(tiny_root), device="cpu")
    from_volume = volume_engine.render(t2i(seed=5, output_format="png"))
    from_tiny = tiny_engine.render(t2i(seed=5, output_format="png"))
    assert from_volume.images[0].data == from_tiny.images[0].data


def test_the_volume_refuses_missing_and_unpinned_weights(tmp_path: Path) -> None:
    volume_engine = Engine(VolumeSource(tmp_path), device="cpu")
    with pytest.raises(RenderFailed) as missing:
        volume_engine.render(t2i())
    assert missing.value.code == "weights_missing"
    unpinned = next((e for e in (get_model("real-esrgan-x4"), get_model("florence-2-base")) if not e.pinned), None)
    assert unpinned is not None, "both are pinned now: load an entry that names a branch some other way"
    with pytest.raises(RenderFailed) as loose:
        volume_engine.load(unpinned.id)
    assert loose.value.code == "model_unpinned"


def test_engine_for_settings_and_tiny_sizes(tmp_path: Path) -> None:
    local = engine_for(Settings(data_dir=tmp_path))
    assert isinstance(local.source, TinySource)
    assert local.source.root == tmp_path / "models" / "tiny"
    assert local.output_size("flux-schnell", "1:1") == (128, 128)
    assert local.output_size("flux-schnell", "16:9") == (160, 96)
    production = engine_for(Settings(data_dir=tmp_path, model_source="volume", weights_dir=tmp_path / "w"))
    assert isinstance(production.source, VolumeSource)
    assert production.output_size("flux-schnell", "16:9") == (1344, 768)
    assert scaled_size(1024, 1024, 1) == (1024, 1024)
    with pytest.raises(RenderFailed) as bad:
        local.output_size("flux-schnell", "7:3")
    assert bad.value.code == "bad_size"


def test_render_failed_survives_pickling_across_a_remote_call() -> None:
    import pickle

    original = RenderFailed("invalid_image", "the input image is not a readable image")
    failed = pickle.loads(pickle.dumps(original))  # noqa: S301  # our own bytes, as Modal does
    assert isinstance(failed, RenderFailed)
    assert (failed.code, failed.message) == ("invalid_image", "the input image is not a readable image")
