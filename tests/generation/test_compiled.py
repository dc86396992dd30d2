"""The compiled path with the tiny FLUX model on the CPU: the same code a GPU container runs before its snapshot.

Regional compilation (inductor) of the transformer's repeated blocks and fused QKV projections, then a warm-up
over every shape the registry allows (each aspect ratio's size × each count); after it no registered shape may
compile again (Dynamo is told to raise on a recompile), and the images match the eager engine's.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from config.models import BY_ID
from functions.generation.engine import Engine, RenderRequest, TinySource, scaled_size, warm_up_requests
from functions.generation.serving import ServingContainer

MODEL = "flux-schnell"
pytestmark = [
    pytest.mark.slow,  # compiles with inductor and renders every registered shape twice
    # inductor's CPU code generation still calls a deprecated torch.jit helper internally
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A container started as with GPU snapshots (everything before the snapshot), on the CPU.

    It has a tiny source of its own: prepare() changes the cached pipeline, which other tests share per source.
    """
    source = TinySource(tmp_path_factory.mktemp("tiny-compiled"))
    container = ServingContainer(source, (MODEL,), gpu_snapshot=True, device="cpu", dtype="float32")
    engine = container.before_snapshot()
    assert container.steps[-3:] == [
        f"speed-ups {MODEL}",
        f"applied {MODEL}: fuse_qkv,compile; skipped fp8 (fp8 needs a CUDA GPU)",
        f"warm up {MODEL}",
    ]
    assert len(warm_up_requests(BY_ID[MODEL], source.size_divisor)) == len(BY_ID[MODEL].sizes) * 4
    return engine


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_the_repeated_blocks_are_compiled_and_the_projections_fused(compiled: Engine) -> None:
    loaded = compiled.load(MODEL)
    assert loaded.speedups == ("fuse_qkv", "compile")
    assert loaded.skipped == {"fp8": "fp8 needs a CUDA GPU"}
    transformer = loaded.model.transformer
    blocks = [m for m in transformer.modules() if type(m).__name__ in transformer._repeated_blocks]
    assert blocks
    assert all(block._compiled_call_impl is not None for block in blocks)  # nn.Module.compile() sets it
    assert transformer._compiled_call_impl is None  # regional: the blocks, not the whole transformer
    attentions = [m for m in transformer.modules() if getattr(m, "fused_projections", False)]
    assert attentions
    for attention in attentions:
        assert hasattr(attention, "to_qkv")
        assert not hasattr(attention, "to_q")  # the unfused copies are dropped, not kept beside the fused one


def test_no_registered_shape_compiles_again_after_the_warm_up(compiled: Engine) -> None:
    requests = warm_up_requests(BY_ID[MODEL], compiled.source.size_divisor)
    assert {(r.width, r.height, r.count) for r in requests} == {
        (*scaled_size(w, h, 8), count) for w, h in BY_ID[MODEL].sizes.values() for count in range(1, 5)
    }
    with torch._dynamo.config.patch(error_on_recompile=True):
        for request in requests:
            result = compiled.render(request)
            assert len(result.images) == request.count


def test_compiled_images_match_the_eager_engine(compiled: Engine, engine: Engine) -> None:
    request = RenderRequest(
        "text_to_image", MODEL, "a fox", width=128, height=96, count=2, seed=5, steps=2, output_format="png"
    )
    fast, eager = compiled.render(request), engine.render(request)
    for ours, theirs in zip(fast.images, eager.images, strict=True):
        difference = np.abs(_pixels(ours.data) - _pixels(theirs.data))
        assert difference.max() <= 2
        assert difference.mean() < 0.5


def test_speedups_off_leaves_a_model_eager(tmp_path: Path) -> None:
    engine = Engine(TinySource(tmp_path / "tiny"), device="cpu", speedups_off=("flux-schnell:compile", "fuse_qkv"))
    loaded = engine.prepare(MODEL)
    assert loaded.speedups == ()
    assert loaded.model.transformer.transformer_blocks[0]._compiled_call_impl is None
