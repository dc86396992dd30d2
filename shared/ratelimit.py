"""Rate limits shared by every container: a sliding log in Postgres, one atomic upsert per check.

Why Postgres: the API runs as many serverless containers that share no memory, so an in-process
counter would multiply every budget by the number of containers (and reset on each cold start).
Postgres is already the one shared store every container talks to, its clock is the one clock all
containers agree on, and a check is one round trip (the function `atelier_rate_check`, migration 0030):
row-level locking on the key's row serialises concurrent checks of the same key, so N
simultaneous checks against a limit L admit exactly L of them. No Redis to run, secure and keep in sync.

Algorithm: a sliding log. The key's row holds the times of the requests it admitted within the last window;
a request is admitted when fewer than `limit` of them are younger than `window_seconds`, and then its own time
is added. So no window of that length, wherever it starts, ever admits more than `limit` (fixed windows aligned
to the epoch admitted up to twice the limit around a boundary: 10 of 100 rapid requests on a 5/60 budget). A
refused request is not logged, so a client that keeps hammering gets in again as soon as its oldest admission
leaves the window (`retry_after`). The row holds at most `limit` times: small for every budget we have. The log is
kept in time order, so a check finds the window's start by bisection and cuts the log in one slice: its cost hardly
grows with the log (a statement that unnested the log per check cost ~4 µs per logged time, under the row lock).
GCRA (one "theoretical arrival time" per key) was the alternative; with a burst of `limit` it admits up to
about twice the limit in one window too, so it does not give the exact guarantee.

`count_in_window` keeps the old fixed-window counter for what is a count per window by nature (security
events: one event per subject and window, a unique key on the window's start).

Keys are stored only as keyed hashes (HMAC-SHA256 with the deployment's pseudonym key), never as raw
IP addresses or account ids. Rows whose window has ended are deleted by the `prune-rate-limits` task.

Fail closed: if the store cannot be reached the check raises `RateLimiterUnavailable` (503
`rate_limiter_unavailable`); there is no code path that answers "allowed" without a counted hit.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import PoolTimeout

from config.values import value
from shared.kit.db import Database
from shared.kit.db.database import COMMIT_WITHOUT_FLUSH, Connection
from shared.kit.errors import ServiceUnavailable

# How long a check waits for a pooled connection before failing closed.
CONNECTION_TIMEOUT_SECONDS = 5.0
PRUNE_BATCH = 5000


class RateLimiterUnavailable(ServiceUnavailable):
    """The rate limiter's store is unreachable, so this request is refused; retry later."""

    code = "rate_limiter_unavailable"


@value
class Decision:
    """The outcome of one checked request: `admitted` requests of this key in the window ending now (this one
    included when it was allowed)."""

    allowed: bool
    retry_after: int  # seconds until a request would be admitted again (0 when allowed)
    admitted: int
    limit: int
    window_seconds: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.admitted, 0)


@value
class WindowCount:
    """One counted event in a fixed window aligned to the epoch: `hits` is its number in that window."""

    hits: int
    window_start: datetime


def hash_key(bucket: str, key: str, secret: bytes) -> str:
    """The stored form of a key: HMAC-SHA256 over bucket and key, so a raw IP or id is never kept."""
    return hmac.new(secret, f"{bucket}\x00{key}".encode(), hashlib.sha256).hexdigest()[:40]


# The sliding log, in one function (migration 0030): it locks the key's row (concurrent checks of one key queue
# up), cuts the admissions that have left the window by bisection of the time-ordered log, and admits the request
# when fewer than the limit remain.
_CHECK = "select * from atelier_rate_check(%(bucket)s, %(key)s, %(window)s, %(limit)s, %(now)s::timestamptz)"
# A check that commits on its own (given a `Database`) does not wait for its commit to reach the disk: the setting is
# local to that one statement's transaction (`set_config(..., true)`), so nothing else on the connection changes. A
# durable commit costs a WAL flush (1-3 ms on the shared machine, most of a request's database time, twice a
# request); a crash of the database may lose the admissions of its last ~0.6 s (three `wal_writer_delay`s), which
# only makes the limiter that much more lenient just after a crash. Postgres never leaves the log half-written. A
# check that joins a caller's transaction (given a `Connection`) leaves its durability to the caller.
_CHECK_ALONE = f"select {COMMIT_WITHOUT_FLUSH} as durability, c.* from ({_CHECK}) c"

_UPSERT = """
with w as (
    select to_timestamp(floor(extract(epoch from coalesce(%(now)s::timestamptz, now())) / %(window)s)
                        * %(window)s) as start,
           coalesce(%(now)s::timestamptz, now()) as now
)
insert into rate_limit_counters as c (bucket, key_hash, window_start, window_seconds, hits, expires_at)
select %(bucket)s, %(key)s, w.start, %(window)s, 1, w.start + make_interval(secs => %(window)s) from w
on conflict (bucket, key_hash, window_start) do update set hits = c.hits + 1
returning c.hits, c.window_start, c.expires_at, (select now from w) as now
"""


def check(
    conn_or_db: Connection | Database,
    *,
    bucket: str,
    key: str,
    limit: int,
    window_seconds: int,
    now: datetime | None = None,
    secret: bytes = b"",
) -> Decision:
    """Admit one request for `key` in `bucket` if fewer than `limit` were admitted in the last `window_seconds`.

    With a `Database` the admission is committed at once (what routes want: it survives a later rollback).
    With a `Connection` it joins the caller's transaction. Raises `RateLimiterUnavailable` when the store cannot
    be reached: callers never fail open by accident. `now` (tests) drives the clock; by default it is the
    database's, the one clock every container agrees on.
    """
    if limit < 1 or window_seconds < 1:
        raise ValueError("limit and window_seconds must be at least 1")
    params = {
        "bucket": bucket,
        "key": hash_key(bucket, key, secret),
        "window": window_seconds,
        "limit": limit,
        "now": now,
    }
    row = _one(conn_or_db, _CHECK_ALONE if isinstance(conn_or_db, Database) else _CHECK, params)
    return _decision(row, limit, window_seconds)


def _decision(row: dict[str, Any], limit: int, window_seconds: int) -> Decision:
    if row["allowed"]:
        return Decision(True, 0, row["admitted"], limit, window_seconds)
    # Refused: a request is admitted again once the admission `limit` places back leaves the window (`frees_at`).
    retry_after = max(1, math.ceil((row["frees_at"] - row["now"]).total_seconds()))
    return Decision(False, retry_after, row["admitted"], limit, window_seconds)


@value
class Check:
    """One check, for a statement that runs it with other work (`check` runs one alone): the request path's
    per-address and per-account checks ride in the statement that writes the security log row
    (shared/lifecycle/entry.py), one round trip where they took three."""

    bucket: str
    key: str
    limit: int
    window_seconds: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_seconds < 1:
            raise ValueError("limit and window_seconds must be at least 1")

    @staticmethod
    def sql(name: str) -> str:
        """A check as a row source, its parameters named after `name` (an identifier; `params` gives them):
        `select * from {sql}` answers `allowed`, `admitted`, `frees_at`, `now` as `check` reads them, on the
        database's clock."""
        if not name.isidentifier():
            raise ValueError(f"not a name: {name!r}")
        return (
            f"atelier_rate_check(%({name}_bucket)s, %({name}_key)s, %({name}_window)s, %({name}_limit)s, "
            "null::timestamptz)"
        )

    def params(self, name: str, secret: bytes) -> dict[str, object]:
        return {
            f"{name}_bucket": self.bucket,
            f"{name}_key": hash_key(self.bucket, self.key, secret),
            f"{name}_window": self.window_seconds,
            f"{name}_limit": self.limit,
        }

    def decision(self, row: dict[str, Any]) -> Decision:
        """The `Decision` of a row the check's `sql` answered."""
        return _decision(row, self.limit, self.window_seconds)

    def run(self, conn_or_db: Connection | Database, secret: bytes) -> Decision:
        """The check alone, as `check` runs one (committed at once given a `Database`)."""
        return check(
            conn_or_db,
            bucket=self.bucket,
            key=self.key,
            limit=self.limit,
            window_seconds=self.window_seconds,
            secret=secret,
        )


# What the store failing looks like to a check; anything else is a bug and passes up as one.
UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError)


def count_in_window(
    conn_or_db: Connection | Database,
    *,
    bucket: str,
    key: str,
    window_seconds: int,
    now: datetime | None = None,
    secret: bytes = b"",
) -> WindowCount:
    """Count one event for `key` in the fixed window (aligned to the epoch) holding `now`: for facts that are per
    window by nature (one security event per subject and window), never for admitting requests."""
    if window_seconds < 1:
        raise ValueError("window_seconds must be at least 1")
    params = {"bucket": bucket, "key": hash_key(bucket, key, secret), "window": window_seconds, "now": now}
    row = _one(conn_or_db, _UPSERT, params)
    return WindowCount(int(row["hits"]), row["window_start"])


def _one(conn_or_db: Connection | Database, query: str, params: dict[str, object]) -> dict[str, Any]:
    try:
        if isinstance(conn_or_db, Database):
            # One statement, committed as it returns: one round trip (no BEGIN, no COMMIT).
            with conn_or_db.autocommit(timeout=CONNECTION_TIMEOUT_SECONDS) as conn:
                row = conn.execute(query, params).fetchone()
        else:
            row = conn_or_db.execute(query, params).fetchone()
    except UNAVAILABLE as exc:
        raise RateLimiterUnavailable() from exc
    if row is None:  # pragma: no cover - insert ... returning always yields a row
        raise RateLimiterUnavailable()
    return dict(row)


def prune(db: Database, now: datetime) -> int:
    """Delete logs and counters whose window has ended, in bounded batches (what the scheduler calls).

    Each batch starts at the expiry where the last one stopped (a keyset on `expires_at`): one that started again at
    the oldest expired entry would walk the index entries of every row the batches before it deleted (dead until
    vacuum), so a flood's backlog would cost the square of its size (docs/benchmarks.md, "Retention")."""
    total = 0
    for table in ("rate_limit_log", "rate_limit_counters"):
        after: datetime | None = None
        while True:
            with db.transaction() as conn:
                since = sql.SQL("and expires_at >= %(after)s" if after is not None else "")
                rows = conn.execute(
                    sql.SQL(
                        """with due as (select ctid, expires_at from {t}
                                         where expires_at < %(now)s {since}
                                         order by expires_at limit %(limit)s)
                           delete from {t} where ctid in (select ctid from due) returning expires_at"""
                    ).format(t=sql.Identifier(table), since=since),
                    {"now": now, "after": after, "limit": PRUNE_BATCH},
                ).fetchall()
            total += len(rows)
            if len(rows) < PRUNE_BATCH:
                break
            after = max(row["expires_at"] for row in rows)
    return total
