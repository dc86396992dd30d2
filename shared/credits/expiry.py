"""Scheduled credit upkeep: void overdue holds, and book the expiry of credits that ran out.

Expired credits stop counting at `expires_at` without any task (see service.py). `expire_credits` makes the
history say so: per expired grant it moves the unspent remainder to `expired` and writes one `expire`
ledger entry dated at the expiry. A grant some pending hold still draws from waits until that hold is
posted or voided (released credits would otherwise land on a grant already booked as expired).
Both tasks run in bounded batches of short transactions and are safe to run twice at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from shared.credits.service import expire_holds
from shared.kit.db import Database
from shared.kit.db.database import Connection

BATCH = 500
MAX_BATCHES = 10_000


def run_expire_holds(db: Database, now: datetime, *, batch: int = BATCH) -> int:
    """Void every pending hold past its deadline, one transaction per batch; returns how many."""
    total = 0
    for _ in range(MAX_BATCHES):
        with db.transaction() as conn:
            done = expire_holds(conn, now=now, limit=batch)
        total += done
        if done < batch:
            break
    return total


_CANDIDATES = """
select grant_id, user_id, expires_at from credit_grant_state
 where live and expires_at is not null and expires_at <= %(now)s
   and (%(after_at)s::timestamptz is null or (expires_at, grant_id) > (%(after_at)s, %(after_id)s::uuid))
 order by expires_at, grant_id
 limit %(limit)s
"""

# Runs after the owners' credit rows are locked (the lock order of every credit operation), so the
# remainder read here is final: no hold, post, void or revocation of these users can run meanwhile.
_EXPIRE = """
with due as (
    select s.grant_id, s.remaining from credit_grant_state s
     where s.grant_id = any(%(ids)s) and s.remaining > 0 and s.expires_at <= %(now)s
       and not exists (select 1 from credit_hold_allocations al join credit_holds h on h.id = al.hold_id
                        where al.grant_id = s.grant_id and h.status = 'pending')
       and not exists (select 1 from credit_holds h  -- a hold drawn from this grant alone (migration 0036)
                        where h.user_id = s.user_id and h.status = 'pending' and h.grant_id = s.grant_id)
), u as (
    update credit_grant_state s
       set expired = s.expired + due.remaining, remaining = 0
      from due where s.grant_id = due.grant_id
    returning s.grant_id, s.user_id, s.expires_at, due.remaining as amount
)
insert into credit_ledger (user_id, type, amount, grant_id, ref, created_at)
select u.user_id, 'expire', u.amount, u.grant_id, g.source_ref, u.expires_at
  from u join credit_grants g on g.id = u.grant_id
"""


def _expire_batch(conn: Connection, rows: list[dict[str, Any]], now: datetime) -> int:
    users = sorted({str(row["user_id"]) for row in rows})  # one lock order for every run: no deadlocks
    conn.execute(
        "select user_id from credit_accounts where user_id = any(%s::uuid[]) order by user_id for update", (users,)
    )
    return conn.execute(_EXPIRE, {"ids": [row["grant_id"] for row in rows], "now": now}).rowcount


def expire_credits(db: Database, now: datetime, *, batch: int = BATCH) -> int:
    """Book the expiry of every grant whose credits ran out unspent by `now`; returns how many were booked."""
    total = 0
    after: tuple[datetime, UUID] | None = None
    for _ in range(MAX_BATCHES):
        with db.transaction() as conn:
            rows = conn.execute(
                _CANDIDATES,
                {
                    "now": now,
                    "limit": batch,
                    "after_at": after[0] if after else None,
                    "after_id": after[1] if after else None,
                },
            ).fetchall()
            if rows:
                total += _expire_batch(conn, rows, now)
        if len(rows) < batch:
            break
        last = rows[-1]
        after = (last["expires_at"], last["grant_id"])
    return total
