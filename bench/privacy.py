"""Privacy rights benchmark: export build time and peak memory for users with many small images (and erasure).

    .venv/bin/python bench/privacy.py [--images 1000,10000] [--storage-dir DIR]

Uses `DATABASE_URL` when set (a scratch database is created and dropped on it), else an embedded Postgres in a
temporary folder; objects go to a local storage folder (temporary unless --storage-dir). For each size, one user
is seeded with that many small PNGs (half uploads, half outputs, each with its media row), a pending export is
built exactly as the build-exports task builds it, and the script prints:
  - build time and images/s,
  - peak Python heap during the build (tracemalloc) and the process's peak RSS before and after,
  - the archive's size.
Memory should stay flat from one size to the next: rows stream through server-side cursors and objects are
copied chunk by chunk into a ZIP on disk. A second, untraced build gives the time without tracemalloc's cost.
Then bench/erasure.py's `measure_erasure(db, storage, user_id=...)` times erasing the largest user.
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.erasure import measure_erasure
from bench.scratch import scratch_database, server_label
from shared.kit.db import Database
from shared.media.models import MediaKind
from shared.media.service import new_key
from shared.media.storage import LocalStorage, Storage
from shared.privacy import exports

SEED_BATCH = 1000


@dataclass
class ExportFigures:
    images: int
    seconds: float
    untraced_seconds: float
    heap_peak_bytes: int
    rss_before_bytes: int
    rss_after_bytes: int
    archive_bytes: int


def _rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _png(n: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (n % 251, (n // 251) % 251, (n // 63001) % 251)).save(out, "PNG")
    return out.getvalue()


def seed_user(db: Database, storage: Storage, images: int) -> uuid.UUID:
    """One account with `images` small PNGs (objects and media rows), written in batches."""
    user_id = uuid.uuid4()
    with db.transaction() as conn:
        conn.execute(
            "insert into accounts (id, email) values (%s, %s)", (user_id, f"bench-{user_id.hex[:8]}@example.com")
        )
    for start in range(0, images, SEED_BATCH):
        rows = []
        for n in range(start, min(images, start + SEED_BATCH)):
            data, media_id = _png(n), uuid.uuid4()
            kind: MediaKind = "upload" if n % 2 else "output"
            key = new_key(user_id, kind, media_id, "image/png")
            storage.put(key, data, "image/png")
            rows.append((media_id, user_id, kind, key, len(data), hashlib.sha256(data).hexdigest()))
        with db.transaction() as conn, conn.cursor() as cur:
            cur.executemany(
                """insert into media (id, user_id, kind, storage_key, content_type, width, height, bytes, sha256)
                   values (%s, %s, %s, %s, 'image/png', 8, 8, %s, %s)""",
                rows,
            )
    return user_id


def _build_once(db: Database, storage: Storage, user_id: uuid.UUID) -> tuple[float, int]:
    """Request and build one export the way the task does; returns (seconds, archive bytes)."""
    now = datetime.now(UTC)
    with db.transaction() as conn:
        export, _ = exports.request_export(conn, user_id, now=now)
    started = time.perf_counter()
    built = exports.build_exports(db, storage, now=now, days=7, ids=[export.id], limit=1)
    seconds = time.perf_counter() - started
    if built != 1:
        raise RuntimeError("the export was not built")
    with db.transaction() as conn:
        row = conn.execute("select bytes from exports where id = %s", (export.id,)).fetchone()
    return seconds, int(row["bytes"]) if row else 0


def measure_export(db: Database, storage: Storage, user_id: uuid.UUID, images: int) -> ExportFigures:
    rss_before = _rss_bytes()
    tracemalloc.start()
    seconds, size = _build_once(db, storage, user_id)
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = _rss_bytes()
    untraced, _ = _build_once(db, storage, user_id)
    return ExportFigures(images, seconds, untraced, heap_peak, rss_before, rss_after, size)


def report_erasure(db: Database, storage: Storage, user_id: uuid.UUID) -> None:
    """Erasure of the largest user, timed by bench/erasure.py."""
    figures = measure_erasure(db, storage, user_id=user_id)
    print(
        f"\nerasure of the same user ({figures.images} images): {figures.erase_seconds:.2f} s, "
        f"{figures.objects_left} objects left under the user's prefix"
    )


def _mib(value: int) -> str:
    return f"{value / 1024 / 1024:.1f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default="1000,10000", help="comma-separated image counts, one user each")
    parser.add_argument("--storage-dir", type=Path, default=None, help="keep objects here (default: temporary)")
    args = parser.parse_args()
    sizes = [int(x) for x in args.images.split(",")]

    with (
        tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp,
        scratch_database("bench_privacy", Path(tmp)) as url,
    ):
        db = Database(url, min_size=1, max_size=4).open()
        try:
            storage = LocalStorage(args.storage_dir or Path(tmp) / "storage")
            print(f"Postgres: {server_label()}; local storage\n")
            header = (
                f"{'images':>7} | {'seed s':>7} | {'build s':>8} {'img/s':>7} {'untraced s':>10} | "
                f"{'heap peak':>10} {'RSS before':>11} {'RSS after':>10} | {'archive':>10}"
            )
            print(header)
            print("-" * len(header))
            largest: uuid.UUID | None = None
            for images in sizes:
                started = time.perf_counter()
                user_id = seed_user(db, storage, images)
                seeded = time.perf_counter() - started
                figures = measure_export(db, storage, user_id, images)
                print(
                    f"{images:>7} | {seeded:>7.1f} | {figures.seconds:>8.2f} {images / figures.seconds:>7.0f} "
                    f"{figures.untraced_seconds:>10.2f} | {_mib(figures.heap_peak_bytes):>10} "
                    f"{_mib(figures.rss_before_bytes):>11} {_mib(figures.rss_after_bytes):>10} | "
                    f"{_mib(figures.archive_bytes):>10}"
                )
                largest = user_id
            print("\nheap peak: Python allocations during one traced build; RSS: the process's high-water mark.")
            if largest is not None:
                report_erasure(db, storage, largest)
        finally:
            db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
