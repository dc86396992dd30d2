"""Tiny offline pipelines, built once per test process and loaded through the real from_pretrained path."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from functions.generation.engine import Engine, TinySource

# Nothing in these tests may reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def engine(tiny_root: Path) -> Engine:
    return Engine(TinySource(tiny_root), device="cpu")


def png(width: int, height: int, color: tuple[int, int, int] = (180, 40, 40)) -> bytes:
    image = Image.new("RGB", (width, height), color)
    for x in range(0, width, 4):  # some structure, so an upscaler has edges to work on
        image.putpixel((x, x * height // max(width, 1)), (20, 200, 20))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size
