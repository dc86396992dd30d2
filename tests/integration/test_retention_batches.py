"""How a retention sweep cuts its work: batch boundaries, batch sizes, rows shared with other transactions,
two runs at once, and runs repeated. Behaviour only; the speed is bench/retention.py's.

Every test here uses `security_events` (delete) or `security_log` (anonymise), rows timestamped one second
apart unless a test needs them to share a timestamp; the last ones, the sweeps that delete storage objects too
(trashed images, and the engine's storage path on a stand-in table).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from config.retention import RULES
from shared import ratelimit
from shared.kit.db import Database
from shared.media.service import PURGE_BATCH, purge_media
from shared.media.storage import LocalStorage
from shared.retention.service import STORAGE_BATCH, SWEEP_LOCK, SweepResult, _Statements, apply_sweep
from shared.retention.sweeps import SWEEPS, Sweep
from tests.support.accounts import make_account
from tests.support.threads import run_together

T0 = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
EVENTS = next(sweep for sweep in SWEEPS if sweep.table == "security_events")
LOG = next(sweep for sweep in SWEEPS if sweep.table == "security_log")
NOW = T0 + RULES[EVENTS.rule].keep + timedelta(days=1)
# Rows that name a storage object (the shape test_retention.py gives a stand-in table; no Sweep of SWEEPS has one yet).
OBJECTS = Sweep("exports", "scratch_exports", column="finished_at", storage_key="storage_key", lease="claimed_until")
CUTOFF = NOW - RULES[EVENTS.rule].keep  # T0 + 1 day


def _events(db: Database, n: int, *, start: datetime = T0, step: timedelta = timedelta(seconds=1)) -> None:
    with db.transaction() as conn:
        conn.execute(
            """insert into security_events (id, at, kind, subject_kind, subject_ref, count, window_start,
                                            window_seconds)
               select gen_random_uuid(), %(start)s + (i - 1) * %(step)s, 'auth_failures', 'ip', md5(i::text), 21,
                      %(start)s, 60
                 from generate_series(1, %(n)s) as i""",
            {"start": start, "step": step, "n": n},
        )


def _left(db: Database) -> list[datetime]:
    with db.transaction() as conn:
        return [row["at"] for row in conn.execute("select at from security_events order by at").fetchall()]


def _sweep(db: Database, **kwargs: Any) -> SweepResult:
    return apply_sweep(db, None, EVENTS, cutoff=CUTOFF, now=NOW, **kwargs)


def test_fixed_batches_take_at_most_their_size_and_stop_at_the_cutoff(db: Database) -> None:
    _events(db, 25)  # due: T0 .. T0 + 24 s
    _events(db, 1, start=CUTOFF - timedelta(microseconds=1))  # due by a microsecond
    _events(db, 2, start=CUTOFF)  # at the cutoff and after it: kept
    result = _sweep(db, batch=10, max_batch=10)
    assert (result.items, result.largest_batch, result.batches) == (26, 10, 3)
    assert _left(db) == [CUTOFF, CUTOFF + timedelta(seconds=1)]


def test_a_multiple_of_the_batch_size_ends_without_an_empty_batch(db: Database) -> None:
    _events(db, 20)
    result = _sweep(db, batch=10, max_batch=10)
    assert (result.items, result.batches) == (20, 2)
    assert _left(db) == []


def test_rows_sharing_one_timestamp_are_still_taken_in_bounded_batches(db: Database) -> None:
    """A range cannot split 25 rows with one timestamp; claimed batches (SKIP LOCKED) do, 10 at a time."""
    _events(db, 25, step=timedelta(0))
    _events(db, 3, start=T0 + timedelta(seconds=5))
    result = _sweep(db, batch=10, max_batch=10)
    assert (result.items, result.largest_batch) == (28, 10)
    assert _left(db) == []


def test_fast_batches_double_up_to_the_largest_and_slow_ones_halve(db: Database) -> None:
    _events(db, 100)
    grown = _sweep(db, batch=2, max_batch=16, batch_seconds=3600)  # every batch is fast
    assert (grown.items, grown.largest_batch, grown.batches) == (100, 16, 9)  # 2 4 8 16 16 16 16 16 6

    _events(db, 20)
    shrunk = _sweep(db, batch=8, max_batch=64, batch_seconds=0)  # every batch is slow
    assert (shrunk.items, shrunk.largest_batch, shrunk.batches) == (20, 8, 9)  # 8 4 2 1 1 1 1 1 1


def test_a_row_another_transaction_holds_is_passed_over_without_waiting_and_taken_by_the_next_run(
    db: Database, database_url: str
) -> None:
    _events(db, 40)
    held_at = T0 + timedelta(seconds=17)
    with psycopg.connect(database_url) as other:  # e.g. an erasure in progress, holding one due row
        other.execute("select 1 from security_events where at = %s for update", (held_at,))
        (result,) = run_together(lambda: _sweep(db, batch=100, max_batch=100), timeout=60)
        assert result.items == 39
        assert _left(db) == [held_at]
        other.rollback()
    assert _sweep(db).items == 1
    assert _sweep(db).items == 0
    assert _left(db) == []


def test_a_run_finding_another_inside_a_batch_leaves_the_sweep_to_it(db: Database, database_url: str) -> None:
    _events(db, 30)
    with psycopg.connect(database_url) as other:  # what a run holds for the length of one of its batches
        other.execute("select pg_advisory_xact_lock(%s, hashtext('security_events'))", (SWEEP_LOCK,))
        (result,) = run_together(lambda: _sweep(db), timeout=60)
        assert (result.items, result.batches) == (0, 0)
        other.rollback()
    assert _sweep(db).items == 30


def test_two_runs_at_once_change_each_row_once(db: Database) -> None:
    n = 3000
    _events(db, n)
    user_id = make_account(db)
    with db.transaction() as conn:
        conn.execute(
            """insert into security_log (user_id, at, ip, user_agent, method, route)
               select %(user)s, %(at)s + i * interval '1 second', '198.51.100.9', 'agent', 'GET', '/v1/me'
                 from generate_series(1, %(n)s) as i""",
            {"user": user_id, "at": T0, "n": n},
        )

    def run() -> tuple[SweepResult, SweepResult]:
        return (
            _sweep(db, batch=25, max_batch=25),
            apply_sweep(db, None, LOG, cutoff=CUTOFF + timedelta(hours=1), now=NOW, batch=25, max_batch=25),
        )

    first, second = run_together(run, run, timeout=60)
    assert first[0].items + second[0].items == n
    assert first[1].items + second[1].items == n
    assert _left(db) == []
    with db.transaction() as conn:
        row = conn.execute(
            "select count(*) filter (where anonymised_at is null) as left, count(distinct anonymised_at) as stamps, "
            "count(*) filter (where host(ip) <> '198.51.100.0' or user_agent is not null) as raw from security_log"
        ).fetchone()
    assert row == {"left": 0, "stamps": 1, "raw": 0}
    # Run again: nothing is left to do, and nothing changes.
    assert (_sweep(db).items, apply_sweep(db, None, LOG, cutoff=CUTOFF + timedelta(hours=1), now=NOW).items) == (0, 0)


def test_a_batchs_settings_end_with_its_transaction(database_url: str) -> None:
    """A batch commits without waiting for the disk, with its own lock_timeout and erasing flag: none of it stays on
    the pooled connection (one connection here, so the next user gets the same)."""
    db = Database(database_url, min_size=1, max_size=1).open()
    try:
        with db.transaction() as conn:
            before = conn.execute(
                "select current_setting('synchronous_commit') as durability, current_setting('lock_timeout') as wait,"
                " coalesce(current_setting('atelier.erasing', true), '') = 'on' as erasing"
            ).fetchone()
        _events(db, 30)
        held_at = T0 + timedelta(seconds=7)
        with psycopg.connect(database_url) as other:  # a held row: the claimed batches run too
            other.execute("select 1 from security_events where at = %s for update", (held_at,))
            assert _sweep(db, batch=10, max_batch=10).items == 29
            other.rollback()
        audit = next(sweep for sweep in SWEEPS if sweep.erasing)  # its batches set the erasing flag
        assert apply_sweep(db, None, audit, cutoff=CUTOFF, now=NOW).items == 0
        with db.transaction() as conn:
            after = conn.execute(
                "select current_setting('synchronous_commit') as durability, current_setting('lock_timeout') as wait,"
                " coalesce(current_setting('atelier.erasing', true), '') = 'on' as erasing"
            ).fetchone()
        assert before is not None
        assert (before["durability"], before["erasing"]) == ("on", False)
        assert after == before
        assert _left(db) == [held_at]
    finally:
        db.close()


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda sweep: sweep.table)
def test_every_sweep_walks_an_index_not_the_table(db: Database, sweep: Sweep) -> None:
    """A batch's cost follows the rows it takes, not the table's size: no batch statement reads the whole table
    (with sequential scans priced out, one still planned means no index serves the sweep)."""
    params = {"cutoff": NOW, "after": T0, "limit": 1000, "now": NOW, "mark": T0 + timedelta(days=1)}
    statements = _Statements.of(sweep, keyset=True)
    for statement in (statements.bound, statements.range, statements.claim):
        with db.transaction() as conn:
            conn.execute("set local enable_seqscan = off")
            plan = "\n".join(row["QUERY PLAN"] for row in conn.execute("explain " + statement, params).fetchall())
        assert "Seq Scan" not in plan, plan


# --- sweeps that delete storage objects: each batch walks on from where the last one stopped -------------------
# (The quadratic walk docs/benchmarks.md "Retention" describes: a batch that starts again at the oldest due entry
# reads the index entries of every row the batches before it deleted, dead until vacuum.)


def _entries_read(database_url: str, index: str, run: Callable[[Database], object]) -> int:
    """The index entries `run`'s scans went through (pg_stat_user_indexes.idx_tup_read), as on a production table:
    sequential scans priced out (a table of millions of rows, not thousands), and an older snapshot held open (a
    long report, a backup), so the entries of rows the run deleted cannot be marked dead yet and a scan that
    starts behind them reads each of them again."""
    with psycopg.connect(database_url, autocommit=True) as reader, psycopg.connect(database_url) as old:

        def read() -> int:
            reader.execute("select pg_stat_clear_snapshot()")
            row = reader.execute(
                "select idx_tup_read from pg_stat_user_indexes where indexrelname = %s", (index,)
            ).fetchone()
            assert row is not None
            return int(row[0])

        before = read()
        old.execute("set transaction isolation level repeatable read")
        old.execute("select 1")  # its snapshot is older than every row the run deletes
        # One backend, whose statistics are flushed at the end.
        one = Database(make_conninfo(database_url, options="-c enable_seqscan=off"), min_size=1, max_size=1).open()
        try:
            run(one)
            with one.transaction() as conn:
                conn.execute("select pg_stat_force_next_flush()")  # sent when that backend goes idle
        finally:
            one.close()
        return read() - before


def test_purging_trashed_images_walks_the_index_once(db: Database, database_url: str, tmp_path: Path) -> None:
    n = 6 * PURGE_BATCH
    user_id = make_account(db)
    with db.transaction() as conn:
        conn.execute(
            """insert into media (id, user_id, kind, storage_key, content_type, width, height, bytes, sha256,
                                  deleted_at, purge_after)
               select gen_random_uuid(), %(user)s, 'upload', 'users/' || %(user)s || '/uploads/' || i || '.png',
                      'image/png', 8, 8, 9, repeat('0', 64), %(at)s, %(at)s + i * interval '1 second'
                 from generate_series(1, %(n)s) as i""",
            {"user": user_id, "at": T0, "n": n},
        )
    with db.autocommit() as conn:
        conn.execute("analyze media")
    storage = LocalStorage(tmp_path / "storage")
    purged: list[int] = []
    read = _entries_read(database_url, "media_purge", lambda one: purged.append(purge_media(one, storage, now=NOW)))
    assert purged == [n]
    # Each due entry about once (a few more where one batch stopped and the next began); batches that each began
    # at the oldest due entry read about 13,500 here, growing with the square of the backlog.
    assert n <= read < n + n // 10, read


def test_a_sweep_with_storage_objects_walks_the_index_once(db: Database, database_url: str, tmp_path: Path) -> None:
    n = 6 * STORAGE_BATCH
    with db.transaction() as conn:
        conn.execute(
            """create table scratch_exports (id uuid primary key, finished_at timestamptz not null,
                   storage_key text, claimed_until timestamptz)"""
        )
        conn.execute("create index scratch_exports_finished on scratch_exports (finished_at)")
        conn.execute(
            """insert into scratch_exports (id, finished_at)
               select gen_random_uuid(), %(at)s + i * interval '1 second' from generate_series(1, %(n)s) as i""",
            {"at": T0, "n": n},
        )
    with db.autocommit() as conn:
        conn.execute("analyze scratch_exports")
    results: list[SweepResult] = []
    read = _entries_read(
        database_url,
        "scratch_exports_finished",
        lambda one: results.append(apply_sweep(one, LocalStorage(tmp_path), OBJECTS, cutoff=NOW, now=NOW)),
    )
    assert [result.items for result in results] == [n]
    assert n <= read < n + n // 10, read  # each batch from the oldest due entry: about 18,000


def test_pruning_rate_limits_walks_the_index_once(db: Database, database_url: str) -> None:
    # A flood from many addresses leaves a backlog of ended windows: several batches of them.
    n = 3 * ratelimit.PRUNE_BATCH
    with db.transaction() as conn:
        conn.execute(
            """insert into rate_limit_log (bucket, key_hash, window_seconds, admitted, allowed, expires_at)
               select 'flood', md5(i::text), 60, array[%(at)s::timestamptz], true, %(at)s + i * interval '1 ms'
                 from generate_series(1, %(n)s) as i""",
            {"at": T0, "n": n},
        )
    with db.autocommit() as conn:
        conn.execute("analyze rate_limit_log")
    pruned: list[int] = []
    read = _entries_read(
        database_url, "rate_limit_log_expires_at", lambda one: pruned.append(ratelimit.prune(one, NOW))
    )
    assert pruned == [n]
    # Each expired entry about once; batches that each began at the oldest expired entry read about 2n here.
    assert n <= read < n + n // 10, read
