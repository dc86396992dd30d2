"""SQL for credits. Every time comparison uses `coalesce(%(now)s, now())`, so tests can travel in time."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.rows import tuple_row
from psycopg.types.composite import RecordBinaryLoader

from shared.credits.models import Balance, Grant, Hold, LedgerEntry
from shared.kit.db.database import Connection
from shared.kit.pagination import Cursor

_NOW = "coalesce(%(now)s::timestamptz, now())"

_GRANT_COLUMNS = """g.id, g.user_id, g.kind, g.amount, g.source_ref, g.expires_at, g.reason, g.created_at,
                    s.remaining, s.spent, s.revoked"""
_HOLD_COLUMNS = ", ".join(f.name for f in fields(Hold))  # in the dataclass's order: `Hold(*row)` holds


def _grant(row: dict[str, Any]) -> Grant:
    return Grant(
        id=row["id"],
        user_id=row["user_id"],
        kind=row["kind"],
        amount=row["amount"],
        source_ref=row["source_ref"],
        expires_at=row["expires_at"],
        reason=row["reason"],
        created_at=row["created_at"],
        remaining=row["remaining"],
        spent=row["spent"],
        revoked=row["revoked"],
    )


def _hold(row: dict[str, Any]) -> Hold:
    return Hold(**{key: row[key] for key in _HOLD_COLUMNS.split(", ")})


# --- the per-user lock -----------------------------------------------------------------------------


def lock_account(conn: Connection, user_id: UUID) -> bool:
    """Lock the user's credit row FOR UPDATE (creating it on first use); False when no such account exists.

    Every operation that moves a user's credits takes this lock first, so they are serialised per user
    and always lock in the same order (account row → hold → grant state): no deadlocks, no lost updates.
    """
    sql = "select user_id from credit_accounts where user_id = %s for update"
    if conn.execute(sql, (user_id,)).fetchone() is not None:
        return True
    conn.execute(
        "insert into credit_accounts (user_id) select id from accounts where id = %s on conflict do nothing",
        (user_id,),
    )
    return conn.execute(sql, (user_id,)).fetchone() is not None


# --- grants ----------------------------------------------------------------------------------------

_INSERT_GRANT = f"""
with g as (
    insert into credit_grants (user_id, kind, amount, source_ref, expires_at, reason, created_at)
    select a.id, %(kind)s, %(amount)s, %(source_ref)s, %(expires_at)s, %(reason)s, {_NOW}
      from accounts a
     where a.id = %(user_id)s and (%(expires_at)s::timestamptz is null or %(expires_at)s > {_NOW})
    on conflict (source_ref) do nothing
    returning *
), s as (
    insert into credit_grant_state (grant_id, user_id, amount, expires_at, created_at, remaining)
    select id, user_id, amount, expires_at, created_at, amount from g
    returning remaining, spent, revoked
), c as (
    insert into credit_accounts (user_id) select user_id from g on conflict do nothing
), l as (
    insert into credit_ledger (user_id, type, amount, grant_id, ref, created_at)
    select user_id, 'grant', amount, id, source_ref, created_at from g
)
select g.*, s.remaining, s.spent, s.revoked from g, s
"""


def insert_grant(
    conn: Connection,
    *,
    user_id: UUID,
    amount: int,
    kind: str,
    source_ref: str,
    expires_at: datetime | None,
    reason: str | None,
    now: datetime | None,
) -> Grant | None:
    """The new grant, or None when the source reference exists already, the account does not, or `expires_at` is
    not after `now` (the database's when None)."""
    row = conn.execute(
        _INSERT_GRANT,
        {
            "user_id": user_id,
            "amount": amount,
            "kind": kind,
            "source_ref": source_ref,
            "expires_at": expires_at,
            "reason": reason,
            "now": now,
        },
    ).fetchone()
    return _grant(row) if row else None


def grant_by_source_ref(conn: Connection, source_ref: str) -> Grant | None:
    row = conn.execute(
        f"""select {_GRANT_COLUMNS} from credit_grants g join credit_grant_state s on s.grant_id = g.id
            where g.source_ref = %s""",
        (source_ref,),
    ).fetchone()
    return _grant(row) if row else None


def live_grants(conn: Connection, user_id: UUID, now: datetime | None) -> list[Grant]:
    """The user's grants that have not expired, in spend order."""
    rows = conn.execute(
        f"""select {_GRANT_COLUMNS} from credit_grants g join credit_grant_state s on s.grant_id = g.id
            where s.user_id = %(user_id)s and (s.expires_at is null or s.expires_at > {_NOW})
            order by s.expires_at asc nulls last, s.created_at, s.grant_id""",
        {"user_id": user_id, "now": now},
    ).fetchall()
    return [_grant(row) for row in rows]


# --- revocations -----------------------------------------------------------------------------------


def revocation_by_ref(conn: Connection, revocation_ref: str) -> tuple[UUID, int] | None:
    row = conn.execute(
        "select grant_id, amount from credit_revocations where revocation_ref = %s", (revocation_ref,)
    ).fetchone()
    return (row["grant_id"], row["amount"]) if row else None


_REVOKE = f"""
with s as (
    select grant_id, user_id,
           case when expires_at is not null and expires_at <= {_NOW} then 0
                else least(remaining, coalesce(%(requested)s::integer, remaining)) end as n
      from credit_grant_state where grant_id = %(grant_id)s
), r as (
    insert into credit_revocations (user_id, grant_id, revocation_ref, requested, amount, reason, created_at)
    select user_id, grant_id, %(revocation_ref)s, %(requested)s, n, %(reason)s, {_NOW} from s
    returning amount, created_at
), u as (
    update credit_grant_state t
       set remaining = t.remaining - s.n, revoked = t.revoked + s.n, closed = t.closed or %(close)s
      from s where t.grant_id = s.grant_id
), l as (
    insert into credit_ledger (user_id, type, amount, grant_id, ref, created_at)
    select s.user_id, 'revoke', s.n, s.grant_id, %(revocation_ref)s, r.created_at from s, r where s.n > 0
)
select amount from r
"""


def insert_revocation(
    conn: Connection,
    *,
    grant_id: UUID,
    revocation_ref: str,
    requested: int | None,
    reason: str | None,
    now: datetime | None,
) -> int:
    row = conn.execute(
        _REVOKE,
        {
            "grant_id": grant_id,
            "revocation_ref": revocation_ref,
            "requested": requested,
            "close": requested is None,
            "reason": reason,
            "now": now,
        },
    ).fetchone()
    if row is None:  # the grant state row exists for every grant; this would be a bug in the SQL
        raise RuntimeError("grant state vanished during revocation")
    amount: int = row["amount"]
    return amount


# --- holds -----------------------------------------------------------------------------------------


def hold_by_ref(conn: Connection, ref: str) -> Hold | None:
    row = conn.execute(f"select {_HOLD_COLUMNS} from credit_holds where ref = %s", (ref,)).fetchone()
    return _hold(row) if row else None


def get_hold(conn: Connection, hold_id: UUID) -> Hold | None:
    row = conn.execute(f"select {_HOLD_COLUMNS} from credit_holds where id = %s", (hold_id,)).fetchone()
    return _hold(row) if row else None


# The connection's loader of the functions' answers, kept on the connection: it keeps a transformer for the answer's
# field types, which a loader made per call would build anew each time (~8 µs). (In a dictionary keyed by
# connection it would keep its connection alive: the loader refers to it.)
_ANSWER_LOADER = "_atelier_credit_answer_loader"


def _call(conn: Connection, sql: str, params: tuple[object, ...]) -> tuple[str, Hold | None]:
    """(outcome, the hold it names or None): the answer of `credit_reserve` and `credit_resolve`, one composite
    value (`credit_hold_outcome`: `outcome`, then the hold's columns in `Hold`'s order). These two run once per job
    each, so the call is the cheapest form measured (issue 34, item 4): the function in the select list, not in
    FROM (no function scan, no tuple store, one column to describe and send instead of ten), the value in binary
    (ids and times not parsed from text; each field carries its type), the row as a tuple (no column names read).
    psycopg hands a composite whose type is not registered over as bytes; the connection's record loader reads
    them with the connection's own loaders (its time zone included)."""
    row = conn.cursor(row_factory=tuple_row, binary=True).execute(sql, params).fetchone()
    if row is None:  # both functions always answer one row
        raise RuntimeError("a credit function answered nothing")
    value = row[0]
    if isinstance(value, bytes):
        loader = getattr(conn, _ANSWER_LOADER, None)
        if loader is None:
            loader = RecordBinaryLoader(0, conn)
            setattr(conn, _ANSWER_LOADER, loader)
        value = loader.load(value)
    outcome, *hold = value  # a tuple already where the type is registered on the connection
    return outcome, Hold(*hold) if hold[0] is not None else None


_RESERVE = "select credit_reserve(%s::uuid, %s::integer, %s::text, %s::interval, %s::timestamptz)"
_RESOLVE = "select credit_resolve(%s::uuid, %s::integer, %s::timestamptz)"


def reserve_hold(
    conn: Connection, *, user_id: UUID, amount: int, ref: str, ttl: timedelta, now: datetime | None
) -> tuple[str, Hold | None]:
    """Lock the account, draw `amount` soonest-expiring first and place the hold, in one round trip
    (migrations 0014, 0036, 0047). Outcomes: reserved, replayed, no_account, insufficient, ref_conflict."""
    return _call(conn, _RESERVE, (user_id, amount, ref, ttl, now))


def resolve_hold(
    conn: Connection, *, hold_id: UUID, posted: int | None, now: datetime | None
) -> tuple[str, Hold | None]:
    """Post (`posted` credits, -1 for all) or void (None) a pending hold in one round trip (migrations 0014,
    0036, 0047). Outcomes: resolved, not_found, already_resolved (the hold carries its status), invalid_amount."""
    return _call(conn, _RESOLVE, (hold_id, posted, now))


def overdue_holds(conn: Connection, *, now: datetime | None, limit: int) -> list[UUID]:
    rows = conn.execute(
        f"""select id from credit_holds
             where status = 'pending' and expires_at <= {_NOW}
             order by expires_at limit %(limit)s""",
        {"now": now, "limit": limit},
    ).fetchall()
    return [row["id"] for row in rows]


# --- reading ---------------------------------------------------------------------------------------


def balance(conn: Connection, user_id: UUID, now: datetime | None) -> Balance:
    row = conn.execute(
        f"""select
              coalesce((select sum(remaining) from credit_grant_state
                         where user_id = %(user_id)s and live
                           and (expires_at is null or expires_at > {_NOW})), 0)::bigint as available,
              coalesce((select sum(amount) from credit_holds
                         where user_id = %(user_id)s and status = 'pending'), 0)::bigint as pending""",
        {"user_id": user_id, "now": now},
    ).fetchone()
    if row is None:  # an aggregate always answers one row
        raise RuntimeError("balance query answered nothing")
    return Balance(available=int(row["available"]), pending=int(row["pending"]))


def ledger_page(conn: Connection, user_id: UUID, *, after: Cursor | None, limit: int) -> list[LedgerEntry]:
    """Up to `limit` entries newest first, strictly after the cursor."""
    rows = conn.execute(
        """select id, type, amount, grant_id, hold_id, ref, created_at from credit_ledger
            where user_id = %(user_id)s
              and (%(at)s::timestamptz is null or (created_at, id) < (%(at)s::timestamptz, %(id)s::uuid))
            order by created_at desc, id desc
            limit %(limit)s""",
        {
            "user_id": user_id,
            "at": after.created_at if after else None,
            "id": after.id if after else None,
            "limit": limit,
        },
    ).fetchall()
    return [LedgerEntry(**row) for row in rows]
