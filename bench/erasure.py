"""Erasure benchmark: how long the erase-accounts steps take for one user with many small images.

    .venv/bin/python bench/erasure.py [--images 10000]

Uses `DATABASE_URL` when set (a scratch database is created and dropped on it), else an embedded Postgres
in a temporary folder; objects go to a local storage folder. The user gets N small PNG outputs (rows and
objects), then asks to be erased; the figure is the wall time of `run_erasures` once the grace period is
over (storage objects, then rows). `measure_erasure(...)` is importable (bench/privacy.py calls it).
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.values import value

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import scratch_database
from shared.kit.db import Database
from shared.media.storage import LocalStorage, Storage, outputs_prefix
from shared.privacy import erasure
from tests.support.images import plain


@value
class ErasureFigures:
    images: int
    seed_seconds: float
    erase_seconds: float
    objects_left: int


class _NoAuth:
    def delete_user(self, user_id: uuid.UUID) -> bool:
        return True


def seed_user(db: Database, storage: Storage, images: int) -> uuid.UUID:
    """One account with `images` small outputs: objects written, rows inserted in batches."""
    user_id = uuid.uuid4()
    data = plain("PNG", (8, 8), (10, 120, 200))
    digest = hashlib.sha256(data).hexdigest()
    with db.transaction() as conn:
        conn.execute(
            "insert into accounts (id, email) values (%s, %s)", (user_id, f"bench-{user_id.hex[:8]}@example.com")
        )
    rows = []
    for _ in range(images):
        media_id = uuid.uuid4()
        key = f"{outputs_prefix(user_id)}{media_id}.png"
        storage.put(key, data, "image/png")
        rows.append((media_id, user_id, key, len(data), digest))
    with db.transaction() as conn, conn.cursor() as cur:
        cur.executemany(
            """insert into media (id, user_id, kind, storage_key, content_type, width, height, bytes, sha256)
               values (%s, %s, 'output', %s, 'image/png', 8, 8, %s, %s)""",
            rows,
        )
    return user_id


def measure_erasure(
    db: Database, storage: Storage, *, images: int = 10_000, user_id: uuid.UUID | None = None
) -> ErasureFigures:
    """Seed a user with `images` images (unless `user_id` is given, e.g. after an export bench), request erasure
    with no grace period and time one `run_erasures` pass."""
    seed_started = time.perf_counter()
    if user_id is None:
        user_id = seed_user(db, storage, images)
    else:  # an already seeded user: report the images they really have
        with db.transaction() as conn:
            row = conn.execute("select count(*) as n from media where user_id = %s", (user_id,)).fetchone()
        images = int(row["n"]) if row else 0
    seed_seconds = time.perf_counter() - seed_started
    now = datetime.now(UTC)
    with db.transaction() as conn:
        erasure.request_erasure(conn, user_id, now=now, grace_days=0)
    processors = erasure.Processors(storage=storage, auth=_NoAuth())
    started = time.perf_counter()
    erased = erasure.run_erasures(db, processors, now=now + timedelta(seconds=1))
    erase_seconds = time.perf_counter() - started
    if erased != 1:
        raise RuntimeError(f"expected one account erased, got {erased}")
    return ErasureFigures(images, seed_seconds, erase_seconds, len(storage.list(f"users/{user_id}/")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database("bench_erasure", Path(tmp)) as url:
        db = Database(url, min_size=1, max_size=4).open()
        try:
            figures = measure_erasure(db, LocalStorage(Path(tmp) / "objects"), images=args.images)
        finally:
            db.close()
    print(f"images:          {figures.images}")
    print(f"seed:            {figures.seed_seconds:.2f} s (objects written, rows inserted)")
    print(f"erasure:         {figures.erase_seconds:.2f} s ({figures.images / figures.erase_seconds:.0f} images/s)")
    print(f"objects left:    {figures.objects_left}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
