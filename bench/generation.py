"""Generation throughput of the tiny offline pipelines on the CPU, calling the engine directly.

    python bench/generation.py [--rounds N] [--jobs N] [--only-marks]

Prints images/s (captions/s for image_to_prompt) per task at the sizes the local stack renders (the tiny source
scales production sizes down 8x per side), then text-to-image jobs/s through the whole local path (POST /v1/jobs →
credit hold → in-process worker → stored output → posted credits, on an embedded Postgres, or a scratch database
on DATABASE_URL) next to the engine alone. The ratio of the two is the job system's overhead. Last, what
provenance and safety add per image: XMP + C2PA signing (development chain) of a WebP at the tiny and at the
production size, and classification by the tiny ViT and by a random ViT-base (the production architecture,
86 M parameters, 224 px) on this CPU.

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


@contextmanager
def local_studio(engine: Engine, root: Path) -> Iterator[tuple[Any, dict[str, str], Any]]:
    """The API with one in-process worker on a scratch database: (client, auth headers of an onboarded
    member with credits, the worker pool)."""
    import uuid

    import jwt
    from fastapi.testclient import TestClient

    from bench.scratch import scratch_database
    from config.settings import Settings
    from functions.api.app import create_app
    from functions.generation.local_workers import LocalDispatcher
    from functions.generation.worker import JobRunner
    from functions.safety.factory import moderator_for
    from shared.credits import service as credits
    from shared.kit.db import Database
    from shared.media.storage import LocalStorage

    secret, user, now = uuid.uuid4().hex * 2, uuid.uuid4(), int(time.time())
    unlimited = {"jobs.user": "1000000/60", "jobs.ip": "1000000/60"}
    settings = Settings(data_dir=root / "data", supabase_jwt_secret=secret, rate_limit_overrides=unlimited)
    claims = {"sub": str(user), "email": "bench@example.com", "aud": "authenticated", "iat": now, "exp": now + 3600}
    headers = {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}
    with scratch_database("bench_jobs", root / "pg") as url:
        db = Database(url, min_size=1, max_size=8).open()
        storage, moderator = LocalStorage(settings.storage_dir), moderator_for(settings)
        runner = JobRunner(db=db, storage=storage, engine=engine, settings=settings, moderator=moderator)
        pool = LocalDispatcher(runner.run, 1)
        try:
            with TestClient(create_app(settings, db, storage, dispatcher=pool, moderator=moderator)) as client:
                version = client.get("/v1/policies/current").json()["version"]
                body = {"age_confirmed": True, "accepted_policy_version": version}
                client.post("/v1/me/onboarding", json=body, headers=headers).raise_for_status()
                with db.transaction() as conn:
                    credits.grant(
                        conn, user_id=user, amount=10**6, kind="adjustment", source_ref="bench", expires_at=None
                    )
                yield client, headers, pool
        finally:
            pool.stop()
            db.close()


def jobs_path(engine: Engine, root: Path, jobs: int) -> tuple[float, float]:
    """(seconds per text-to-image job through the local path, seconds per render of the same request by the
    engine alone), measured back to back so both see the same machine load."""
    job = {"task": "text_to_image", "prompt": "a fox", "aspect_ratio": "1:1", "seed": 1}
    width, height = engine.output_size("flux-schnell", "1:1")
    direct = RenderRequest("text_to_image", "flux-schnell", "a fox", width=width, height=height, seed=1)
    with local_studio(engine, root) as (client, headers, pool):
        client.post("/v1/jobs", json=job, headers=headers).raise_for_status()  # warm-up
        pool.join()
        started = time.perf_counter()
        for _ in range(jobs):
            client.post("/v1/jobs", json=job, headers=headers).raise_for_status()
        pool.join()
        per_job = (time.perf_counter() - started) / jobs
        done = client.get("/v1/jobs", params={"status": "succeeded", "limit": 100}, headers=headers).json()
        if len(done["items"]) != min(jobs + 1, 100):
            raise RuntimeError("not every benchmark job succeeded")
    started = time.perf_counter()
    for _ in range(jobs):
        engine.render(direct)
    return per_job, (time.perf_counter() - started) / jobs


def _median_ms(fn: Any, rounds: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _webp(width: int, height: int) -> bytes:
    noise = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="WEBP", quality=90)
    return buffer.getvalue()


def marks_and_classification(root: Path, rounds: int) -> None:
    """Milliseconds per image that marking (XMP + signed C2PA manifest) and classification add."""
    from transformers import ViTConfig, ViTForImageClassification

    from functions.safety.classifier import TorchImageClassifier, ensure_tiny_classifier
    from shared.media.thumbnails import THUMBNAIL_TYPE, make_thumbnail
    from shared.provenance.marks import Marker
    from shared.provenance.signing import development_credential

    marker = Marker(development_credential(root / "c2pa"))
    print(f"\nprovenance and safety per image, median of {rounds}")
    for width, height in ((128, 128), (1024, 1024), (4096, 4096)):
        data = _webp(width, height)
        created = _median_ms(
            lambda data=data: marker.mark(data, "image/webp", task="text_to_image", model_id="flux-schnell"), rounds
        )
        edited = _median_ms(
            lambda data=data: marker.mark(
                data, "image/webp", task="edit", model_id="flux-kontext-dev", input_image=data,
                input_content_type="image/webp",
            ),
            rounds,
        )  # fmt: skip
        marked = marker.mark(data, "image/webp", task="text_to_image", model_id="flux-schnell").data
        small = make_thumbnail(marked)  # made for every stored image anyway; only its marking is new
        thumbnail = _median_ms(
            lambda marked=marked, small=small: marker.mark(
                small, THUMBNAIL_TYPE, task="text_to_image", model_id="flux-schnell", rendition_of=marked
            ),
            rounds,
        )
        print(
            f"mark {width}x{height} WebP ({len(data) / 1e6:.2f} MB): created {created:7.1f} ms, "
            f"edited with the input as ingredient {edited:7.1f} ms, "
            f"its thumbnail as a rendition of it {thumbnail:7.1f} ms"
        )
    tiny_path = ensure_tiny_classifier(root / "tiny")
    tiny = TorchImageClassifier(tiny_path)
    sample = _webp(1024, 1024)
    print(f"classify 1024x1024, tiny ViT (32 px):           {_median_ms(lambda: tiny.scores(sample), rounds):7.1f} ms")
    base_path = root / "vit-base"
    labels: dict[str, Any] = {
        "num_labels": 2,
        "id2label": {0: "normal", 1: "nsfw"},
        "label2id": {"normal": 0, "nsfw": 1},
    }
    model: Any = ViTForImageClassification(ViTConfig(**labels))
    model.save_pretrained(base_path)
    (base_path / "preprocessor_config.json").write_text('{"size": {"height": 224, "width": 224}}')
    base = TorchImageClassifier(base_path)
    print(f"classify 1024x1024, ViT-base random (224 px):   {_median_ms(lambda: base.scores(sample), rounds):7.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=20, help="text-to-image jobs through the local path (0: skip)")
    parser.add_argument("--only-marks", action="store_true", help="only the provenance and classification figures")
    args = parser.parse_args(argv)
    if args.only_marks:
        with tempfile.TemporaryDirectory() as root:
            marks_and_classification(Path(root), args.rounds)
        return 0
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
        if args.jobs:
            per_job, per_render = jobs_path(engine, Path(root), args.jobs)
            print(
                f"\ntext_to_image, {args.jobs} jobs through the local path (HTTP, hold, worker, storage, post): "
                f"{1 / per_job:.2f} jobs/s; the engine alone on the same request: {1 / per_render:.2f} /s; "
                f"ratio {per_render / per_job:.0%}, overhead {(per_job - per_render) * 1000:.1f} ms per job"
            )
        marks_and_classification(Path(root), args.rounds)
    print(TARGETS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
