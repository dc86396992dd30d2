"""Generation throughput of the tiny offline pipelines on the CPU, calling the engine directly.

    python bench/generation.py [--rounds N]

Prints images/s (captions/s for image_to_prompt) per task at the sizes the local stack renders (the tiny source
scales production sizes down 8x per side). The comparison with the whole local jobs path (POST /v1/jobs → worker
→ stored outputs) is added with the jobs work; the ratio of the two is the job system's overhead.

Production targets, on Modal H100s with the pinned FLUX.1 weights, to be measured when a GPU is available:
- FLUX.1 [schnell], 1024x1024, 4 steps: at most 0.5 s per image warm (the compute floor is ~0.3 s).
- Cold start (container start to first image) with memory snapshots: at most 5 s.
These are not measured here: this machine has no GPU, and the tiny models say nothing about FLUX's speed.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from functions.generation.engine import Engine, RenderRequest, TinySource

TARGETS = (
    "production targets (H100, to be measured when a GPU is available): "
    "FLUX.1-schnell 1024x1024 <= 0.5 s/image warm; cold start <= 5 s with memory snapshots"
)


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 80, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def requests(engine: Engine) -> list[tuple[str, RenderRequest]]:
    width, height = engine.output_size("flux-schnell", "1:1")
    source = _png(width, height)
    image = {"image": source, "width": width, "height": height, "seed": 1}
    return [
        ("text_to_image", RenderRequest("text_to_image", "flux-schnell", "a fox", width=width, height=height, seed=1)),
        ("edit", RenderRequest("edit", "flux-kontext-dev", "make it blue", **image)),  # type: ignore[arg-type]
        ("inpaint", RenderRequest("inpaint", "flux-fill-dev", "a hat", mask=_png(width, height), **image)),  # type: ignore[arg-type]
        ("upscale", RenderRequest("upscale", "real-esrgan-x4", image=source, target_long_side=width * 4)),
        ("image_to_prompt", RenderRequest("image_to_prompt", "florence-2-base", image=source)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as root:
        engine = Engine(TinySource(Path(root)), device="cpu")
        print(f"engine direct, tiny models on the CPU, {args.rounds} rounds each")
        for task, request in requests(engine):
            started = time.perf_counter()
            engine.load(request.model)
            load_s = time.perf_counter() - started
            engine.render(request)  # warm-up
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                result = engine.render(request)
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            size = f"{result.images[0].width}x{result.images[0].height}" if result.images else "text"
            print(
                f"{task:16} {request.model:18} {size:>9}  {1 / median:7.2f} /s  "
                f"median {median * 1000:7.1f} ms  (build+load {load_s:.2f} s)"
            )
    print(TARGETS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
