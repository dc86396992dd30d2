"""Retention benchmark: enforce-retention's batched deletes next to one plain DELETE of the same rows.

    .venv/bin/python bench/retention.py [--rows 1000000] [--batch 1000]

Uses `DATABASE_URL` when set (a scratch database is created and dropped on it), else an embedded Postgres
in a temporary folder. It fills `security_events` (the rule `security_events`: 90 days, then delete) with
`--rows` expired rows, then times:
  - enforce-retention: the real sweep (`shared.retention.service.apply_sweep`), `--batch` rows per
    transaction claimed FOR UPDATE SKIP LOCKED; the longest single transaction is the longest time any
    row lock was held;
  - plain DELETE: `delete from security_events where at < cutoff` in one transaction over the same rows,
    which holds every row lock until it commits.
Figures, not assertions; a million rows take a few minutes on a small machine.
"""

from __future__ import annotations

import argparse
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
from shared.retention.service import apply_sweep
from shared.retention.sweeps import SWEEPS

NOW = datetime(2031, 1, 1, tzinfo=UTC)


def fill(url: str, rows: int) -> None:
    """`rows` security events, all a year old (so every one is due), then vacuum so both runs start equal."""
    old = NOW - timedelta(days=365)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """insert into security_events (id, at, kind, subject_kind, subject_ref, count, window_start,
                                            window_seconds)
               select gen_random_uuid(), %(old)s + i * interval '1 millisecond', 'auth_failures', 'ip',
                      md5(i::text), 21, %(old)s, 60
                 from generate_series(1, %(rows)s) as i""",
            {"old": old, "rows": rows},
        )
        conn.execute("vacuum analyze security_events")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="rows per enforce-retention transaction")
    args = parser.parse_args()
    sweep = next(s for s in SWEEPS if s.table == "security_events")
    cutoff = NOW - RULES[sweep.rule].keep

    with (
        tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp,
        scratch_database("bench_retention", Path(tmp)) as url,
    ):
        print(f"Postgres: {server_label()}; {args.rows:,} rows")

        fill(url, args.rows)
        db = Database(url, min_size=1, max_size=2).open()
        try:
            started = time.perf_counter()
            result = apply_sweep(db, None, sweep, cutoff=cutoff, now=NOW, batch=args.batch)
            swept = time.perf_counter() - started
        finally:
            db.close()
        assert result.items == args.rows, result

        fill(url, args.rows)
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            deleted = conn.execute("delete from security_events where at < %s", (cutoff,)).rowcount
            conn.commit()
            plain = time.perf_counter() - started
        assert deleted == args.rows, deleted

        header = f"{'':<28} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'transactions':>12} {'longest lock':>13}"
        print(header)
        print("-" * len(header))
        print(
            f"{'enforce-retention':<28} {result.items:>10,} {swept:>9.2f} {result.items / swept:>10,.0f} "
            f"{result.batches:>12,} {result.longest_batch_seconds * 1000:>10.1f} ms"
        )
        print(
            f"{'plain DELETE':<28} {deleted:>10,} {plain:>9.2f} {deleted / plain:>10,.0f} "
            f"{1:>12,} {plain * 1000:>10.1f} ms"
        )
        print(
            f"\nbatched/plain throughput: {(result.items / swept) / (deleted / plain):.0%}; "
            f"the longest lock is {plain / max(result.longest_batch_seconds, 1e-9):,.0f}x shorter in batches"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
