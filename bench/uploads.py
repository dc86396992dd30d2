"""Upload memory benchmark: the API process's RSS for concurrent worst-case uploads, and whether it comes back.

    .venv/bin/python bench/uploads.py [--concurrency 8] [--rounds 2] [--batches 5]

Serves the real app (TestClient, the thread pool the API uses, the local classifier) over a scratch database
(`DATABASE_URL` when set, else an embedded Postgres in a temporary folder) and local storage. One small upload
warms the app (the classifier loads torch) before the first idle RSS is read. Then, for each kind of upload an
attacker would pick, `--concurrency` clients upload at once, `--rounds` times, and finally `--batches` rounds
of all kinds mixed; a sampler reads the process's resident set every 5 ms. Printed per scenario: answers, wall
time, the peak RSS above the idle RSS measured just before it and above the first idle RSS, and the idle RSS
after it; at the end the idle RSS after all batches against the first. Targets: peak < 512 MB above idle, idle
back within 64 MB of the first. Kinds (the at-cap ones are exactly 4096x4096, the pixel cap):
  - png-bomb-6300: a ~100 KB single-colour 6300x6300 PNG (what the red team sent; over the pixel cap),
  - png-cap: a single-colour 8-bit RGB PNG at the cap (PNG has no reduced decode),
  - png16-rgb-cap: a single-colour 16-bit RGB PNG at the cap (written by hand: Pillow writes no 48-bit PNG),
  - png16-grey-cap: a 16-bit greyscale PNG at the cap (Pillow's I;16, kept tonal when made 8-bit),
  - webp-lossless-cap: a single-colour lossless WebP at the cap (under a kilobyte; WebP has no reduced decode),
  - jpeg-cap: a photo-like baseline JPEG at the cap (decoded at reduced scale with `draft`),
  - jpeg-progressive-cap: the same photo as a progressive JPEG (libjpeg buffers every coefficient),
  - jpeg-forged: a 631-byte JPEG whose header claims 4000x4000 (a 16x16 scan).
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import io
import struct
import sys
import tempfile
import threading
import time
import uuid
import zlib
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
from shared.media.decoding import API_ARENAS, limit_arenas, process_budget
from shared.media.images import DEFAULT_MAX_PIXELS

SECRET = "bench-uploads-secret-at-least-32-bytes-long"  # noqa: S105 - signs throwaway tokens for a scratch app
TARGET_MB = 512
IDLE_TARGET_MB = 64
SETTLE_SECONDS = 1.0  # after a scenario, before its idle RSS is read


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _trim_generated_samples() -> None:
    """Give back what making the samples cost before the first idle RSS is read (glibc only), so the baseline holds
    the app and not the bench's own leftovers; the app's own memory is measured as it is."""
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


def _png(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (10, 120, 10)).save(out, "PNG", optimize=True)
    return out.getvalue()


def _png16_rgb(side: int) -> bytes:
    """A single-colour 48-bit RGB PNG, chunk by chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes.fromhex("1234abcd5678") * side  # filter 0, then R G B as 16-bit big-endian
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _png16_grey(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("I;16", (side, side), 40000).save(out, "PNG", optimize=True)
    return out.getvalue()


def _webp_lossless(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (10, 120, 10)).save(out, "WEBP", lossless=True)
    return out.getvalue()


def _jpeg(side: int, *, progressive: bool = False) -> bytes:
    out = io.BytesIO()
    tile = Image.effect_noise((256, 256), 60).convert("RGB")
    photo = tile.resize((side, side), Image.Resampling.BICUBIC)
    photo.save(out, "JPEG", quality=90, progressive=progressive)
    return out.getvalue()


def _forged_jpeg(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    frame = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, side, side)
    return bytes(data)


def _small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def _token() -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + 3600}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


def measure(client: TestClient, headers: dict[str, str], bodies: list[bytes], rounds: int) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, answers) for len(bodies) concurrent uploads, `rounds` times."""
    peak = rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb())
            time.sleep(0.005)

    answers: Counter[str] = Counter()
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
            label = str(response.status_code)
            if response.status_code >= 400:
                label += f" {response.json().get('error', {}).get('code', '?')}"
                if retry := response.headers.get("retry-after"):
                    label += f" (Retry-After {retry})"
            answers[label] += 1

        threads = [threading.Thread(target=upload, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return elapsed, peak, ", ".join(f"{n}x{label}" for label, n in sorted(answers.items()))


def settled_rss() -> float:
    time.sleep(SETTLE_SECONDS)
    return rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batches", type=int, default=5, help="rounds of all kinds mixed, at the end")
    parser.add_argument("--only", nargs="*", default=None, help="run only these kinds (and the mixed batches)")
    args = parser.parse_args()
    arenas = limit_arenas()  # as the local stack does first thing, and the Modal API image by MALLOC_ARENA_MAX

    cap_side = int(DEFAULT_MAX_PIXELS**0.5)
    kinds: dict[str, Callable[[], bytes]] = {
        "png-bomb-6300": lambda: _png(6300),
        "png-cap": lambda: _png(cap_side),
        "png16-rgb-cap": lambda: _png16_rgb(cap_side),
        "png16-grey-cap": lambda: _png16_grey(cap_side),
        "webp-lossless-cap": lambda: _webp_lossless(cap_side),
        "jpeg-cap": lambda: _jpeg(cap_side),
        "jpeg-progressive-cap": lambda: _jpeg(cap_side, progressive=True),
        "jpeg-forged": lambda: _forged_jpeg(4000),
    }
    samples = {name: make() for name, make in kinds.items()}
    _trim_generated_samples()
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
                warm = client.post("/v1/uploads", files={"file": ("x", _small_png(), "image/png")}, headers=headers)
                first_idle = settled_rss()
                print(
                    f"postgres: {server_label()}; {args.concurrency} concurrent uploads x {args.rounds} rounds a kind, "
                    f"then {args.batches} mixed batches; pixel cap {DEFAULT_MAX_PIXELS:,}; warm-up upload "
                    f"{warm.status_code}; decode budget {process_budget().total_bytes // 2**20} MB; malloc arenas "
                    f"{API_ARENAS if arenas else 'unlimited'}; first idle RSS {first_idle:.0f} MB; targets: peak < "
                    f"{TARGET_MB} MB above idle, idle back within {IDLE_TARGET_MB} MB"
                )
                for name, body in samples.items():
                    print(f"  {name:<21} {len(body):>10,} bytes each")
                chosen = {n: b for n, b in samples.items() if args.only is None or n in args.only}
                scenarios = {name: ([body] * args.concurrency, args.rounds) for name, body in chosen.items()}
                everything = list(chosen.values())
                scenarios["mixed"] = ([everything[i % len(everything)] for i in range(args.concurrency)], args.batches)
                for name, (bodies, rounds) in scenarios.items():
                    idle = rss_mb()
                    elapsed, peak, answers = measure(client, headers, bodies, rounds)
                    after = settled_rss()
                    verdict = "ok" if peak - idle < TARGET_MB else "OVER TARGET"
                    print(
                        f"{name:<21} {elapsed:6.2f} s  peak +{peak - idle:6.1f} MB above idle "
                        f"(+{peak - first_idle:6.1f} above the first) [{verdict}]  idle after {after:6.0f} MB  "
                        f"answers: {answers}"
                    )
                last_idle = settled_rss()
                verdict = "ok" if last_idle - first_idle < IDLE_TARGET_MB else "OVER TARGET"
                print(
                    f"idle RSS after all batches: {last_idle:.0f} MB, first idle {first_idle:.0f} MB: "
                    f"{last_idle - first_idle:+.0f} MB [{verdict}]"
                )
        finally:
            db.close()


if __name__ == "__main__":
    main()
