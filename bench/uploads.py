"""Upload memory benchmark: peak RSS of the API process for 8 concurrent worst-case uploads (target < 512 MB).

    .venv/bin/python bench/uploads.py [--concurrency 8] [--rounds 2]

Serves the real app (TestClient, the thread pool the API uses) over a scratch database (`DATABASE_URL` when
set, else an embedded Postgres in a temporary folder) and local storage. For each kind of upload an attacker
would pick, `--concurrency` clients upload at once, `--rounds` times; a sampler reads the process's resident
set every 5 ms. Printed per scenario: answers, wall time, and the peak RSS above the idle RSS measured just
before it. Kinds:
  - png-bomb-6300: a ~100 KB single-colour 6300x6300 PNG (what the red team sent; over the pixel cap),
  - png-cap: a single-colour PNG exactly at the pixel cap (decoded in full: PNG has no reduced decode),
  - jpeg-cap: a 4096x4096 JPEG photo-like image (decoded at reduced scale with `draft`),
  - jpeg-forged: a 631-byte JPEG whose header claims 4000x4000 (a 16x16 scan),
  - mixed: all of the above at once.
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import io
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import jwt
from fastapi.testclient import TestClient
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import scratch_database, server_label
from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database
from shared.media.images import DECODE_SLOTS, DEFAULT_MAX_PIXELS

SECRET = "bench-uploads-secret-at-least-32-bytes-long"  # noqa: S105 - signs throwaway tokens for a scratch app
TARGET_MB = 512


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _png(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (10, 120, 10)).save(out, "PNG", optimize=True)
    return out.getvalue()


def _jpeg(side: int) -> bytes:
    out = io.BytesIO()
    tile = Image.effect_noise((256, 256), 60).convert("RGB")
    photo = tile.resize((side, side), Image.Resampling.BICUBIC)
    photo.save(out, "JPEG", quality=90)
    return out.getvalue()


def _forged_jpeg(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    frame = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, side, side)
    return bytes(data)


def _token() -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + 3600}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


def measure(client: TestClient, headers: dict[str, str], bodies: list[bytes], rounds: int) -> tuple[float, float, str]:
    """(seconds, peak MB above idle, answers) for len(bodies) concurrent uploads, `rounds` times."""
    idle = rss_mb()
    peak = idle
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb())
            time.sleep(0.005)

    answers: Counter[int] = Counter()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    for _ in range(rounds):
        gate = threading.Barrier(len(bodies))

        def upload(body: bytes, gate: threading.Barrier = gate) -> None:
            gate.wait()
            response = client.post(
                "/v1/uploads", files={"file": ("x", body, "application/octet-stream")}, headers=headers
            )
            answers[response.status_code] += 1

        threads = [threading.Thread(target=upload, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return elapsed, peak - idle, ", ".join(f"{n}x{status}" for status, n in sorted(answers.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    cap_side = int(DEFAULT_MAX_PIXELS**0.5)
    kinds: dict[str, Callable[[], bytes]] = {
        "png-bomb-6300": lambda: _png(6300),
        "png-cap": lambda: _png(cap_side),
        "jpeg-cap": lambda: _jpeg(cap_side),
        "jpeg-forged": lambda: _forged_jpeg(4000),
    }
    samples = {name: make() for name, make in kinds.items()}
    with tempfile.TemporaryDirectory() as folder, scratch_database("bench_uploads", Path(folder) / "pg") as url:
        settings = Settings(
            data_dir=Path(folder) / "data",
            supabase_jwt_secret=SECRET,
            rate_limit_overrides={"uploads.user": "100000/60", "uploads.ip": "100000/60", "account.ip": "100000/60"},
        )
        db = Database(url, min_size=1, max_size=20).open()
        try:
            with TestClient(create_app(settings, db)) as client:
                headers = _token()
                version = client.get("/v1/policies/current").json()["version"]
                client.post(
                    "/v1/me/onboarding",
                    json={"age_confirmed": True, "accepted_policy_version": version},
                    headers=headers,
                )
                print(
                    f"postgres: {server_label()}; {args.concurrency} concurrent uploads x {args.rounds} rounds; "
                    f"decode slots per process: {DECODE_SLOTS}; pixel cap {DEFAULT_MAX_PIXELS:,}; "
                    f"target: peak < {TARGET_MB} MB above idle"
                )
                for name, body in samples.items():
                    print(f"  {name:<14} {len(body):>10,} bytes each")
                scenarios = {name: [body] * args.concurrency for name, body in samples.items()}
                scenarios["mixed"] = [list(samples.values())[i % len(samples)] for i in range(args.concurrency)]
                for name, bodies in scenarios.items():
                    elapsed, peak, answers = measure(client, headers, bodies, args.rounds)
                    verdict = "ok" if peak < TARGET_MB else "OVER TARGET"
                    print(
                        f"{name:<14} {elapsed:6.2f} s  peak +{peak:7.1f} MB above idle  [{verdict}]  answers: {answers}"
                    )
        finally:
            db.close()


if __name__ == "__main__":
    main()
