"""Apply the retention rules: bounded batches, one short transaction each, safe to run twice at once.

Each batch is its own transaction, so no lock is held for longer than one batch. A batch holds at most
`max_batch` rows, and its size follows its time: one that took under half of `BATCH_SECONDS` doubles the
next, one that took longer halves it, so a large backlog is a few dozen transactions of a fraction of a
second each, not thousands. A batch commits without waiting for its WAL flush (see `_BEGIN_BATCH`).

A sweep walks its timestamp index in order, each batch starting where the one before stopped (a keyset):
no batch reads again the index entries of rows that earlier batches deleted. A batch is a range: the rows
due from the last timestamp reached up to (not including) the timestamp of the `size + 1`-th due row (read
first, along the index), so at most `size` rows, deleted (or anonymised) by one statement that takes no
separate row locks (rows inserted meanwhile with a due timestamp inside the range go with it). Two runs
never change the same rows at once: a batch first takes the sweep's transaction-level advisory lock with
`pg_try_advisory_xact_lock`; a run that finds it taken leaves the sweep to the run holding it (which goes on
until nothing is due), so runs never wait on each other either.
A row another transaction holds (an erasure, an update) makes the range wait at most `LOCK_WAIT`; then the
batch is rolled back and redone by claiming rows `FOR UPDATE SKIP LOCKED`, which passes over the held rows
(the next run takes them); so does a batch whose rows all share one timestamp (a range cannot split them).

Where a row names a storage object, the row is first marked (a lease column, committed), then the
object is deleted, then the row: a crash in between leaves a marked row that the next run picks up once
the lease has passed, and deleting an object that is already gone is no error. Time is injected (`now`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.errors import LockNotAvailable

from config.retention import RULES, Then
from config.settings import Settings
from config.values import value
from shared.kit.db import Database
from shared.kit.db.database import COMMIT_WITHOUT_FLUSH, Connection
from shared.media.storage import Storage
from shared.retention.sweeps import SWEEPS, Sweep

log = logging.getLogger("atelier.retention")

BATCH = 1000  # rows in a sweep's first transaction
MAX_BATCH = 100_000  # the most rows one transaction takes
BATCH_SECONDS = 0.25  # the time a transaction aims at (the longest lock); its rows double or halve to meet it
STORAGE_BATCH = 500  # rows per storage call (Supabase Storage removes at most 1000 names per call)
LOCK_WAIT = "100ms"  # the longest a range batch waits on a row another transaction holds (lock_timeout)
SWEEP_LOCK = 7_351_010  # advisory-lock key, with hashtext(table): one batch of a sweep at a time
LEASE = timedelta(minutes=15)  # how long a claimed row is left to the run that marked it
MAX_BATCHES = 10_000  # per sweep and run: a run ends; the next one carries on

# Subscription states in which the relationship is ongoing even without sign-ins.
_LIVE_SUBSCRIPTION = ("active", "trialing", "past_due")

# Schedules erasure of the given inactive accounts in the caller's transaction; returns how many it took.
ScheduleErasure = Callable[[Connection, list[UUID], datetime], int]


@dataclass
class SweepResult:
    rule: str
    table: str
    items: int = 0
    batches: int = 0
    longest_batch_seconds: float = 0.0  # the longest transaction (so the longest any row lock was held)
    largest_batch: int = 0  # the most rows one transaction took

    def timed(self, started: float, items: int) -> float:
        took = time.perf_counter() - started
        self.batches += 1
        self.items += items
        self.largest_batch = max(self.largest_batch, items)
        self.longest_batch_seconds = max(self.longest_batch_seconds, took)
        return took


@dataclass
class RetentionReport:
    sweeps: list[SweepResult] = field(default_factory=list)
    inactive_accounts: int = 0  # found due for erasure this run
    erasures_scheduled: int = 0

    @property
    def items(self) -> int:
        return sum(result.items for result in self.sweeps) + self.erasures_scheduled

    @property
    def longest_batch_seconds(self) -> float:
        return max((result.longest_batch_seconds for result in self.sweeps), default=0.0)


def keep_from_settings(settings: Settings) -> dict[str, timedelta]:
    """Rules whose period an operator may change through settings (documented in docs/operating.md)."""
    return {
        "security_log": timedelta(days=settings.security_log_retention_days),
        "signup_block": timedelta(hours=settings.signup_block_hours),
    }


def enforce_retention(
    db: Database,
    storage: Storage | None,
    *,
    now: datetime,
    keep: Mapping[str, timedelta] | None = None,
    sweeps: Iterable[Sweep] = SWEEPS,
    batch: int = BATCH,
    max_batch: int = MAX_BATCH,
    schedule_erasure: ScheduleErasure | None = None,
) -> RetentionReport:
    """Apply every sweep (and hand inactive accounts to erasure); `keep` overrides rule periods by name."""
    report = RetentionReport()
    overrides = dict(keep or {})
    for sweep in sweeps:
        period = overrides.get(sweep.rule, RULES[sweep.rule].keep)
        report.sweeps.append(
            apply_sweep(db, storage, sweep, cutoff=now - period, now=now, batch=batch, max_batch=max_batch)
        )
    found, scheduled = hand_over_inactive_accounts(db, now=now, schedule_erasure=schedule_erasure, batch=batch)
    report.inactive_accounts, report.erasures_scheduled = found, scheduled
    log.info(
        "retention enforced",
        extra={
            "items": report.items,
            "per_table": {r.table: r.items for r in report.sweeps if r.items},
            "inactive_accounts": found,
        },
    )
    return report


def _check(sweep: Sweep) -> None:
    then = RULES[sweep.rule].then
    if (then is Then.ANONYMISE) != (sweep.anonymise is not None):
        raise ValueError(f"sweep of {sweep.table} does not match rule {sweep.rule!r} ({then})")
    if (sweep.storage_key is None) != (sweep.lease is None) or (sweep.storage_key and sweep.anonymise):
        raise ValueError(f"sweep of {sweep.table}: storage_key needs a lease column and a delete rule")


def _due(sweep: Sweep, *, extra: str = "", select: str | None = None) -> str:
    return f"""select {select or sweep.key} from {sweep.table}
                where {sweep.column} < %(cutoff)s and ({sweep.where}) {extra}
                order by {sweep.column}
                limit %(limit)s
                for update skip locked"""


def _due_range(sweep: Sweep, *, keyset: bool) -> str:
    return f"{sweep.column} < %(cutoff)s and ({sweep.where})" + (f" and {sweep.column} >= %(after)s" if keyset else "")


def _bound_statement(sweep: Sweep, *, keyset: bool) -> str:
    """Where a range batch ends: the timestamp of the `%(limit)s + 1`-th due row from `%(after)s` on (`mark`), read
    along the index only; no row when at most `%(limit)s` rows are due from there (the range runs to the cutoff)."""
    return f"""select {sweep.column} as mark from {sweep.table} where {_due_range(sweep, keyset=keyset)}
                order by {sweep.column} offset %(limit)s limit 1"""


def _range_statement(sweep: Sweep, *, keyset: bool) -> str:
    """A range batch: the due rows from `%(after)s` (the timestamp the batch before stopped at) up to, not
    including, `%(mark)s` (the bound, or the cutoff), so at most `%(limit)s` rows; its row count is the batch's.
    No RETURNING: a returned row costs the statement a second visit to its heap tuple."""
    return f"{_change(sweep)} where {_due_range(sweep, keyset=keyset)} and {sweep.column} < %(mark)s"


def _claim_statement(sweep: Sweep, *, keyset: bool) -> str:
    """A claimed batch: up to `%(limit)s` due rows locked `FOR UPDATE SKIP LOCKED` (rows another transaction
    holds are passed over), then changed by ctid (locked, so it cannot move). Answers how many changed and the
    last timestamp claimed (`mark`)."""
    due = _due(
        sweep, extra=f"and {sweep.column} >= %(after)s" if keyset else "", select=f"ctid, {sweep.column} as mark"
    )
    return f"""with due as materialized ({due}),
                    changed as ({_change(sweep)} where ctid = any(array(select ctid from due)) returning 1)
               select (select count(*) from changed) as done, (select max(mark) from due) as mark"""


# Every batch begins with this: the sweep's advisory lock (or the answer that another run holds it), the range's
# lock_timeout (a claim keeps the session's), the append-only tables' erasing flag where the sweep needs it, and an
# asynchronous commit. A batch does not wait for its WAL to reach the disk (a flush of up to ~20 MB of WAL per
# 100,000 deleted rows, 2-20 ms each on the shared machine, a tenth of a loaded sweep): a crash of the database may
# lose the batches committed in its last ~0.6 s (three `wal_writer_delay`s), which the next run (hourly) simply does
# again, since a batch only deletes or anonymises rows that are due. Postgres never leaves the log half-written.
# Every setting is local to the batch's transaction (`set_config(..., true)`): the pooled connection keeps its own.
_BEGIN_BATCH = f"""select pg_try_advisory_xact_lock({SWEEP_LOCK}, hashtext(%(key)s)) as mine,
                          set_config('lock_timeout',
                                     case when %(claim)s then current_setting('lock_timeout') else '{LOCK_WAIT}' end,
                                     true),
                          set_config('atelier.erasing', case when %(erasing)s then 'on' else 'off' end, true),
                          {COMMIT_WITHOUT_FLUSH}"""


def _change(sweep: Sweep) -> str:
    if sweep.anonymise is not None:
        return f"update {sweep.table} set {sweep.anonymise}"
    return f"delete from {sweep.table}"


def apply_sweep(
    db: Database,
    storage: Storage | None,
    sweep: Sweep,
    *,
    cutoff: datetime,
    now: datetime,
    batch: int = BATCH,
    max_batch: int = MAX_BATCH,
    batch_seconds: float = BATCH_SECONDS,
) -> SweepResult:
    """Delete or anonymise every row of one sweep that is due at `cutoff`, batch by batch.

    The first transaction takes at most `batch` rows; the next ones double while a transaction takes under
    half of `batch_seconds` and halve when one takes longer, never beyond `max_batch` rows (nor under one).
    `max_batch=batch` gives fixed batches.
    """
    _check(sweep)
    if sweep.storage_key is not None:
        if storage is None:
            raise ValueError(f"sweep of {sweep.table} deletes storage objects: a Storage is needed")
        return _apply_with_objects(db, storage, sweep, cutoff=cutoff, now=now, batch=min(batch, STORAGE_BATCH))
    result = SweepResult(sweep.rule, sweep.table)
    statements = {keyset: _Statements.of(sweep, keyset=keyset) for keyset in (False, True)}
    size = max(1, min(batch, max_batch))
    after: datetime | None = None
    claim = False  # the next batch claims rows (SKIP LOCKED) instead of taking a range
    for _ in range(MAX_BATCHES):
        params = {"cutoff": cutoff, "now": now, "limit": size, "after": after}
        started = time.perf_counter()
        try:
            row = _batch(db, sweep, statements[after is not None], params, claim=claim)
        except LockNotAvailable:  # the range met a row another transaction holds: claim around it
            if claim:
                raise  # the session's own lock_timeout, on a table lock: not ours to retry
            result.longest_batch_seconds = max(result.longest_batch_seconds, time.perf_counter() - started)
            claim = True
            continue
        if row is None:
            break  # another run is in a batch of this sweep: it goes on until nothing is due
        done, mark = row
        took = result.timed(started, done)
        if claim:
            if done < size:  # nothing due is left from `after` on but rows another transaction holds
                break
            claim, after = False, mark
        elif mark is None:  # the range reached the cutoff
            break
        elif done == 0:  # more than `size` due rows share the timestamp `mark`: a range cannot split them
            claim, after = True, mark
            continue
        else:
            after = mark
        size = _next_size(size, took, max_batch=max_batch, batch_seconds=batch_seconds)
    return result


@value
class _Statements:
    bound: str
    range: str
    claim: str

    @classmethod
    def of(cls, sweep: Sweep, *, keyset: bool) -> _Statements:
        return cls(
            _bound_statement(sweep, keyset=keyset),
            _range_statement(sweep, keyset=keyset),
            _claim_statement(sweep, keyset=keyset),
        )


def _batch(
    db: Database, sweep: Sweep, statements: _Statements, params: dict[str, Any], *, claim: bool
) -> tuple[int, datetime | None] | None:
    """One batch in its own transaction: (rows changed, mark), or None when another run holds the sweep."""
    with db.transaction() as conn:
        begun = conn.execute(_BEGIN_BATCH, {"key": sweep.table, "claim": claim, "erasing": sweep.erasing}).fetchone()
        if not (begun and begun["mine"]):
            return None
        if claim:
            row = conn.execute(statements.claim, params).fetchone()
            return (int(row["done"]), row["mark"]) if row else (0, None)
        bound = conn.execute(statements.bound, params).fetchone()
        mark = bound["mark"] if bound else None
        done = conn.execute(statements.range, {**params, "mark": params["cutoff"] if mark is None else mark}).rowcount
    return done, mark


def _next_size(size: int, took: float, *, max_batch: int, batch_seconds: float) -> int:
    if took < batch_seconds / 2:
        return min(size * 2, max_batch)
    if took > batch_seconds:
        return max(size // 2, 1)
    return size


def _apply_with_objects(
    db: Database, storage: Storage, sweep: Sweep, *, cutoff: datetime, now: datetime, batch: int
) -> SweepResult:
    """Mark a batch (commit), delete its objects, then delete exactly the rows this run marked.

    Each batch starts at the timestamp where the one before stopped (a keyset), as range batches do: one that
    started at the oldest due row would walk the index entries of every row the batches before deleted."""
    result = SweepResult(sweep.rule, sweep.table)
    lease_until = now + LEASE
    free = f"and ({sweep.lease} is null or {sweep.lease} < %(now)s)"
    since = f"and {sweep.column} >= %(after)s"
    claims = {
        keyset: f"""update {sweep.table} set {sweep.lease} = %(lease_until)s
                     where {sweep.key} in ({_due(sweep, extra=f"{free} {since}" if keyset else free)})
                    returning {sweep.key} as key, {sweep.storage_key} as object, {sweep.column} as mark"""
        for keyset in (False, True)
    }
    remove = f"delete from {sweep.table} where {sweep.key} = any(%(keys)s) and {sweep.lease} = %(lease_until)s"
    params: dict[str, Any] = {"cutoff": cutoff, "now": now, "limit": batch, "lease_until": lease_until, "after": None}
    for _ in range(MAX_BATCHES):
        started = time.perf_counter()
        with db.transaction() as conn:
            claimed = conn.execute(claims[params["after"] is not None], params).fetchall()
        result.longest_batch_seconds = max(result.longest_batch_seconds, time.perf_counter() - started)
        if not claimed:
            break
        objects = [row["object"] for row in claimed if row["object"]]
        if objects:
            storage.delete(objects)  # outside any transaction: no lock is held across the remote call
        started = time.perf_counter()
        with db.transaction() as conn:
            if sweep.erasing:
                conn.execute("set local atelier.erasing = 'on'")
            done = conn.execute(remove, {"keys": [row["key"] for row in claimed], "lease_until": lease_until}).rowcount
        result.timed(started, done)
        if len(claimed) < batch:
            break
        params["after"] = max(row["mark"] for row in claimed)
    return result


def inactive_accounts(
    conn: Connection, *, cutoff: datetime, limit: int, after: tuple[datetime, UUID] | None = None
) -> list[tuple[datetime, UUID]]:
    """(last activity, id) of accounts last active before `cutoff` with no live subscription (a paying
    customer's relationship goes on), oldest first, after `after`. Locked SKIP LOCKED: concurrent runs
    get disjoint sets."""
    rows = conn.execute(
        """select a.last_active_at, a.id from accounts a
            where a.last_active_at < %(cutoff)s
              and (%(after_at)s::timestamptz is null or (a.last_active_at, a.id) > (%(after_at)s, %(after_id)s::uuid))
              and not exists (select 1 from account_erasures e where e.user_id = a.id)
              and not exists (select 1 from billing_subscriptions s
                               where s.user_id = a.id and s.status = any(%(live)s) and s.ended_at is null)
            order by a.last_active_at, a.id
            limit %(limit)s
            for update of a skip locked""",
        {
            "cutoff": cutoff,
            "limit": limit,
            "live": list(_LIVE_SUBSCRIPTION),
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
        },
    ).fetchall()
    return [(row["last_active_at"], row["id"]) for row in rows]


def hand_over_inactive_accounts(
    db: Database, *, now: datetime, schedule_erasure: ScheduleErasure | None, batch: int = BATCH
) -> tuple[int, int]:
    """Relationship + 3 years: find accounts inactive for the rule's period and schedule their erasure.

    Returns (found, scheduled). Without a scheduler nothing is changed and the count is only logged.
    """
    cutoff = now - RULES["relationship_plus_3_years"].keep
    found = scheduled = 0
    after: tuple[datetime, UUID] | None = None
    for _ in range(MAX_BATCHES):  # keyset pages: accounts scheduled already never stall the walk
        with db.transaction() as conn:
            page = inactive_accounts(conn, cutoff=cutoff, limit=batch, after=after)
            ids = [account_id for _at, account_id in page]
            if ids and schedule_erasure is not None:
                scheduled += schedule_erasure(conn, ids, now)
        found += len(ids)
        if len(page) < batch:
            break
        after = page[-1]
    if found and schedule_erasure is None:
        log.warning("inactive accounts await erasure; no erasure scheduler is wired", extra={"count": found})
    return found, scheduled
