"""Apply the retention rules: bounded batches, one short transaction each, safe to run twice at once.

Rows are claimed with `FOR UPDATE SKIP LOCKED`, so two overlapping runs never take the same row and
never wait on each other; each batch commits on its own, so no lock is held for longer than one batch.
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
from uuid import UUID

from config.retention import RULES, Then
from config.settings import Settings
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.media.storage import Storage
from shared.retention.sweeps import SWEEPS, Sweep

log = logging.getLogger("atelier.retention")

BATCH = 1000  # rows per transaction
STORAGE_BATCH = 500  # rows per storage call (Supabase Storage removes at most 1000 names per call)
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

    def timed(self, started: float, items: int) -> None:
        self.batches += 1
        self.items += items
        self.longest_batch_seconds = max(self.longest_batch_seconds, time.perf_counter() - started)


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
    schedule_erasure: ScheduleErasure | None = None,
) -> RetentionReport:
    """Apply every sweep (and hand inactive accounts to erasure); `keep` overrides rule periods by name."""
    report = RetentionReport()
    overrides = dict(keep or {})
    for sweep in sweeps:
        period = overrides.get(sweep.rule, RULES[sweep.rule].keep)
        report.sweeps.append(apply_sweep(db, storage, sweep, cutoff=now - period, now=now, batch=batch))
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


def apply_sweep(
    db: Database, storage: Storage | None, sweep: Sweep, *, cutoff: datetime, now: datetime, batch: int = BATCH
) -> SweepResult:
    """Delete or anonymise every row of one sweep that is due at `cutoff`, batch by batch."""
    _check(sweep)
    if sweep.storage_key is not None:
        if storage is None:
            raise ValueError(f"sweep of {sweep.table} deletes storage objects: a Storage is needed")
        return _apply_with_objects(db, storage, sweep, cutoff=cutoff, now=now, batch=min(batch, STORAGE_BATCH))
    result = SweepResult(sweep.rule, sweep.table)
    # Rows are addressed by ctid: they are locked by the subquery, so their ctid cannot change under us,
    # and a TID scan saves the primary-key lookups of `where key in (...)`.
    due = _due(sweep, select="ctid")
    if sweep.anonymise is not None:
        statement = f"update {sweep.table} set {sweep.anonymise} where ctid = any(array({due}))"
    else:
        statement = f"delete from {sweep.table} where ctid = any(array({due}))"
    params = {"cutoff": cutoff, "now": now, "limit": batch}
    for _ in range(MAX_BATCHES):
        started = time.perf_counter()
        with db.transaction() as conn:
            if sweep.erasing:
                conn.execute("set local atelier.erasing = 'on'")
            done = conn.execute(statement, params).rowcount
        result.timed(started, done)
        if done < batch:
            break
    return result


def _apply_with_objects(
    db: Database, storage: Storage, sweep: Sweep, *, cutoff: datetime, now: datetime, batch: int
) -> SweepResult:
    """Mark a batch (commit), delete its objects, then delete exactly the rows this run marked."""
    result = SweepResult(sweep.rule, sweep.table)
    lease_until = now + LEASE
    free = f"and ({sweep.lease} is null or {sweep.lease} < %(now)s)"
    claim = f"""update {sweep.table} set {sweep.lease} = %(lease_until)s
                 where {sweep.key} in ({_due(sweep, extra=free)})
                returning {sweep.key} as key, {sweep.storage_key} as object"""
    remove = f"delete from {sweep.table} where {sweep.key} = any(%(keys)s) and {sweep.lease} = %(lease_until)s"
    params = {"cutoff": cutoff, "now": now, "limit": batch, "lease_until": lease_until}
    for _ in range(MAX_BATCHES):
        started = time.perf_counter()
        with db.transaction() as conn:
            claimed = conn.execute(claim, params).fetchall()
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
