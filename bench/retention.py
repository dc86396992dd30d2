"""Retention benchmark: enforce-retention's batched deletes next to one plain DELETE of the same rows.

    .venv/bin/python bench/retention.py [--rows 1000000] [--batch 1000] [--max-batch 100000] [--repeat 1]

Uses `DATABASE_URL` when set (a scratch database is created and dropped on it), else an embedded Postgres
in a temporary folder. It fills `security_events` (the rule `security_events`: 90 days, then delete) with
`--rows` expired rows, then times:
  - enforce-retention: the real sweep (`shared.retention.service.apply_sweep`): range batches along the
    timestamp index, each its own transaction, the first of `--batch` rows, then doubling or halving to stay
    near `BATCH_SECONDS`, at most `--max-batch` rows (`--max-batch` = `--batch` for fixed batches); the
    longest single transaction is the longest time any row lock was held;
  - plain DELETE: `delete from security_events where at < cutoff` in one transaction over the same rows,
    which holds every row lock until it commits.
Both start from an emptied (truncated), freshly filled and vacuumed table, just after a checkpoint. It
prints rows/s of each, their ratio (issue 34 asks for >= 0.5x) and the longest lock. `--repeat` runs the
pair again, alternating which goes first, since one run on a shared machine is noisy. Figures, not
assertions; a million rows take a minute or two on a small machine (the fill is most of it).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import scratch_database, server_label
from config.retention import RULES
from shared.kit.db import Database
from shared.retention.service import BATCH, MAX_BATCH, SweepResult, apply_sweep
from shared.retention.sweeps import SWEEPS

NOW = datetime(2031, 1, 1, tzinfo=UTC)
SWEEP = next(s for s in SWEEPS if s.table == "security_events")
CUTOFF = NOW - RULES[SWEEP.rule].keep


def fill(url: str, rows: int) -> None:
    """An empty table, then `rows` security events, all a year old (every one is due), then vacuum and a
    checkpoint, so each run starts from the same table and the same WAL state."""
    old = NOW - timedelta(days=365)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("truncate security_events")
        conn.execute(
            """insert into security_events (id, at, kind, subject_kind, subject_ref, count, window_start,
                                            window_seconds)
               select gen_random_uuid(), %(old)s + i * interval '1 millisecond', 'auth_failures', 'ip',
                      md5(i::text), 21, %(old)s, 60
                 from generate_series(1, %(rows)s) as i""",
            {"old": old, "rows": rows},
        )
        conn.execute("vacuum analyze security_events")
        # Both runs start right after a checkpoint, so each pays the full-page images of every page it changes
        # (a DATABASE_URL role without pg_checkpoint skips it: noisier figures).
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("checkpoint")


def sweep(url: str, rows: int, batch: int, max_batch: int) -> tuple[SweepResult, float]:
    fill(url, rows)
    db = Database(url, min_size=1, max_size=2).open()
    try:
        started = time.perf_counter()
        result = apply_sweep(db, None, SWEEP, cutoff=CUTOFF, now=NOW, batch=batch, max_batch=max_batch)
        seconds = time.perf_counter() - started
    finally:
        db.close()
    assert result.items == rows, result
    return result, seconds


def plain_delete(url: str, rows: int) -> float:
    fill(url, rows)
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        deleted = conn.execute("delete from security_events where at < %s", (CUTOFF,)).rowcount
        conn.commit()
        seconds = time.perf_counter() - started
    assert deleted == rows, deleted
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="expired rows to delete (default 1,000,000)")
    parser.add_argument("--batch", type=int, default=BATCH, help="rows in the sweep's first transaction")
    parser.add_argument("--max-batch", type=int, default=MAX_BATCH, help="the most rows in one sweep transaction")
    parser.add_argument("--repeat", type=int, default=1, help="run the pair this many times")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp,
        scratch_database("bench_retention", Path(tmp)) as url,
    ):
        print(f"Postgres: {server_label()}; {args.rows:,} rows; first batch {args.batch:,}, at most {args.max_batch:,}")
        header = (
            f"{'':<20} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'transactions':>12} {'largest':>8} "
            f"{'longest lock':>13}"
        )
        print(header)
        print("-" * len(header))
        ratios = []
        for run in range(args.repeat):
            if run % 2:
                plain = plain_delete(url, args.rows)
                result, swept = sweep(url, args.rows, args.batch, args.max_batch)
            else:
                result, swept = sweep(url, args.rows, args.batch, args.max_batch)
                plain = plain_delete(url, args.rows)
            print(
                f"{'enforce-retention':<20} {result.items:>10,} {swept:>8.2f} {result.items / swept:>10,.0f} "
                f"{result.batches:>12,} {result.largest_batch:>8,} {result.longest_batch_seconds * 1000:>10.1f} ms"
            )
            print(
                f"{'plain DELETE':<20} {args.rows:>10,} {plain:>8.2f} {args.rows / plain:>10,.0f} "
                f"{1:>12,} {args.rows:>8,} {plain * 1000:>10.1f} ms"
            )
            ratios.append(plain / swept)
            print(
                f"  sweep/plain throughput: {plain / swept:.2f}x (target >= 0.5x); longest lock "
                f"{result.longest_batch_seconds * 1000:.0f} ms (target < 1,000 ms), "
                f"{plain * 1000:.0f} ms for the plain DELETE"
            )
        if len(ratios) > 1:
            print(
                f"\nratio over {len(ratios)} runs: median {statistics.median(ratios):.2f}x, "
                f"range {min(ratios):.2f}-{max(ratios):.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
