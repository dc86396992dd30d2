"""Rate limits shared by every container: fixed-window counters in Postgres, one atomic upsert per check.

Why Postgres: the API runs as many serverless containers that share no memory, so an in-process
counter would multiply every budget by the number of containers (and reset on each cold start).
Postgres is already the one shared store every container talks to, its clock is the one clock all
containers agree on, and a check is a single `insert ... on conflict do update ... returning`
statement: row-level locking on the counter row serialises concurrent checks of the same key, so N
simultaneous checks against a limit L see hit numbers 1..N and exactly L of them are allowed.
No Redis to run, secure and keep in sync.

Algorithm: fixed windows aligned to the epoch (`floor(now / window) * window`). A client can at most
double its budget across a window boundary; budgets are set with that in mind.

Keys are stored only as keyed hashes (HMAC-SHA256 with the deployment's pseudonym key), never as raw
IP addresses or account ids. Windows that have ended are deleted by the `prune-rate-limits` task.

Fail closed: if the store cannot be reached the check raises `RateLimiterUnavailable` (503
`rate_limiter_unavailable`); there is no code path that answers "allowed" without a counted hit.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg_pool import PoolTimeout

from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.kit.errors import ServiceUnavailable

# How long a check waits for a pooled connection before failing closed.
CONNECTION_TIMEOUT_SECONDS = 5.0
PRUNE_BATCH = 5000


class RateLimiterUnavailable(ServiceUnavailable):
    """The rate limiter's store is unreachable, so this request is refused; retry later."""

    code = "rate_limiter_unavailable"


@dataclass(frozen=True)
class Decision:
    """The outcome of one counted request: `hits` is its number in the current window."""

    allowed: bool
    retry_after: int  # seconds until the window ends (0 when allowed)
    hits: int
    limit: int
    window_start: datetime
    window_seconds: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.hits, 0)


def hash_key(bucket: str, key: str, secret: bytes) -> str:
    """The stored form of a key: HMAC-SHA256 over bucket and key, so a raw IP or id is never kept."""
    return hmac.new(secret, f"{bucket}\x00{key}".encode(), hashlib.sha256).hexdigest()[:40]


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
    """Count one request for `key` in `bucket` and say whether it is within `limit` per `window_seconds`.

    With a `Database` the hit is committed at once (what routes want: a refused request still counts,
    and the count survives a later rollback). With a `Connection` it joins the caller's transaction.
    Raises `RateLimiterUnavailable` when the store cannot be reached: callers never fail open by accident.
    """
    if limit < 1 or window_seconds < 1:
        raise ValueError("limit and window_seconds must be at least 1")
    params = {"bucket": bucket, "key": hash_key(bucket, key, secret), "window": window_seconds, "now": now}
    try:
        if isinstance(conn_or_db, Database):
            with conn_or_db.connection(timeout=CONNECTION_TIMEOUT_SECONDS) as conn:
                row = conn.execute(_UPSERT, params).fetchone()
        else:
            row = conn_or_db.execute(_UPSERT, params).fetchone()
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError) as exc:
        raise RateLimiterUnavailable() from exc
    if row is None:  # pragma: no cover - insert ... returning always yields a row
        raise RateLimiterUnavailable()
    hits = int(row["hits"])
    allowed = hits <= limit
    retry_after = 0 if allowed else max(1, math.ceil((row["expires_at"] - row["now"]).total_seconds()))
    return Decision(allowed, retry_after, hits, limit, row["window_start"], window_seconds)


def prune(db: Database, now: datetime) -> int:
    """Delete counters whose window has ended, in bounded batches (what the scheduler calls)."""
    total = 0
    while True:
        with db.transaction() as conn:
            cur = conn.execute(
                """delete from rate_limit_counters where ctid in (
                       select ctid from rate_limit_counters where expires_at < %s limit %s)""",
                (now, PRUNE_BATCH),
            )
            done = int(cur.rowcount)
        total += done
        if done < PRUNE_BATCH:
            return total
