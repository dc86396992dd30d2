"""Rules for credits: grants, holds that resolve exactly once, revocations, balances.

Every function takes a connection first and never commits; the caller owns the transaction.
Every operation that moves a user's credits first locks that user's `credit_accounts` row, so the
database serialises them per user; per-grant `remaining >= 0` (a domain, migration 0040) and
`remaining + spent + revoked + expired <= amount` (a check constraint) make an overdraft impossible to store even if
this code were wrong. Placing and resolving a hold run inside Postgres (`credit_reserve` / `credit_resolve`,
migrations 0014, 0033, 0036, 0047): one round trip each on the hottest path; this module validates their input and turns
their outcomes into errors.

Balance: available = Σ remaining of unexpired grants = granted − posted − pending − expired − revoked.
Expiry needs no sweeper: a grant stops counting at `expires_at` (every function takes `now` for tests).

Spend order: soonest-expiring grant first, never-expiring last (then oldest first). A partial post
spends the hold's credits in that same order and releases the rest back to the grants it came from.
A hold records what it drew in one of two ways (migration 0036): the one grant it drew everything from on its
own row (`credit_holds.grant_id`, almost every hold), or, when it drew from several, `credit_hold_allocations`
rows in spend order (grant_id null).

Revocation and holds (a documented choice): credits held by a pending hold count as spent-for-now.
`revoke` removes only the grant's currently unspent, unexpired credits and returns that amount. A
revocation of everything (`amount=None`, a full refund or chargeback) also closes the grant: credits a
pending hold later releases back to a closed grant are revoked on return (a `revoke` ledger entry
carrying the hold's id) instead of becoming spendable again. A posted hold stays spent.

Holds past their deadline stay pending (and may still be posted) until `expire_holds` voids them; a
`reserve` that would fail for lack of credits first voids the user's own overdue holds, so credits
never stay stuck even when the scheduler is late.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import psycopg

from config.settings import Settings, get_settings
from shared.credits import repo
from shared.credits.models import GRANT_KINDS, Balance, Grant, GrantKind, Hold, LedgerEntry
from shared.kit.db.database import Connection
from shared.kit.errors import (
    BadRequest,
    Conflict,
    HoldAlreadyResolved,
    InsufficientCredits,
    NotFound,
)
from shared.kit.pagination import Cursor, Page, page_of

MAX_REF_LENGTH = 200
MAX_REASON_LENGTH = 500


# --- validation ------------------------------------------------------------------------------------


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(f"{name} must be a positive whole number of credits.", code="invalid_amount")
    return value


def _ref(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REF_LENGTH:
        raise BadRequest(f"{name} must be a non-empty string of at most {MAX_REF_LENGTH} characters.")
    return value


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise BadRequest(f"{name} must carry a time zone.")
    return value


def _reason(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_REASON_LENGTH:
        raise BadRequest(f"reason must be at most {MAX_REASON_LENGTH} characters.")
    return value


# --- grants ----------------------------------------------------------------------------------------


def grant(
    conn: Connection,
    *,
    user_id: UUID,
    amount: int,
    kind: GrantKind,
    source_ref: str,
    expires_at: datetime | None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Grant:
    """Add `amount` credits from one source. Idempotent on `source_ref`: a replay returns the existing
    grant and changes nothing (a replay naming another user, kind or amount is refused: `source_ref_conflict`).
    Unknown account → NotFound."""
    _positive("amount", amount)
    _ref("source_ref", source_ref)
    _aware("expires_at", expires_at)
    _aware("now", now)
    _reason(reason)
    if kind not in GRANT_KINDS:
        raise BadRequest(f"kind must be one of {', '.join(GRANT_KINDS)}.", code="invalid_grant_kind")
    # The insert first (one round trip for a new grant, the common case); it inserts nothing for a replay, an
    # unknown account or an expiry not in the future, which the lookup after it tells apart.
    created = repo.insert_grant(
        conn,
        user_id=user_id,
        amount=amount,
        kind=kind,
        source_ref=source_ref,
        expires_at=expires_at,
        reason=reason,
        now=now,
    )
    if created is not None:
        return created
    existing = repo.grant_by_source_ref(conn, source_ref)  # a replay, or a concurrent grant won the insert
    if existing is None:
        if expires_at is not None and expires_at <= (now or _db_now(conn)):
            raise BadRequest("expires_at must be in the future.", code="invalid_expiry")
        raise NotFound("No such account.", code="account_not_found")
    if (existing.user_id, existing.kind, existing.amount) != (user_id, kind, amount):
        raise Conflict("This source reference already granted different credits.", code="source_ref_conflict")
    return existing


def grant_signup(conn: Connection, user_id: UUID, *, at: datetime, settings: Settings | None = None) -> Grant | None:
    """The free credits of a new account (`ATELIER_SIGNUP_CREDITS`, expiring after
    `ATELIER_SIGNUP_CREDIT_DAYS`), granted once per account; None when signup credits are off."""
    settings = settings or get_settings()
    if settings.signup_credits <= 0:
        return None
    return grant(
        conn,
        user_id=user_id,
        amount=settings.signup_credits,
        kind="signup",
        source_ref=f"signup:{user_id}",
        expires_at=at + timedelta(days=settings.signup_credit_days),
        now=at,
    )


def revoke(
    conn: Connection,
    *,
    grant_source_ref: str,
    revocation_ref: str,
    amount: int | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> int:
    """Remove up to `amount` (None: all) of the grant's unspent, unexpired credits; return how many were
    removed. Idempotent on `revocation_ref` (a replay returns the recorded amount). Unknown grant → NotFound;
    a `revocation_ref` already used for another grant → Conflict `revocation_ref_conflict`."""
    _ref("grant_source_ref", grant_source_ref)
    _ref("revocation_ref", revocation_ref)
    if amount is not None:
        _positive("amount", amount)
    _aware("now", now)
    _reason(reason)
    target = repo.grant_by_source_ref(conn, grant_source_ref)
    if target is None:
        raise NotFound("No grant has this source reference.", code="grant_not_found")
    repo.lock_account(conn, target.user_id)
    recorded = repo.revocation_by_ref(conn, revocation_ref)
    if recorded is not None:
        grant_id, revoked = recorded
        if grant_id != target.id:
            raise Conflict("This revocation reference was used for another grant.", code="revocation_ref_conflict")
        return revoked
    try:
        return repo.insert_revocation(
            conn, grant_id=target.id, revocation_ref=revocation_ref, requested=amount, reason=reason, now=now
        )
    except psycopg.errors.UniqueViolation as exc:  # the same ref raced in for another user's grant
        raise Conflict("This revocation reference is already used.", code="revocation_ref_conflict") from exc


# --- holds -----------------------------------------------------------------------------------------


def reserve(
    conn: Connection,
    *,
    user_id: UUID,
    amount: int,
    ref: str,
    ttl: timedelta | None = None,
    now: datetime | None = None,
) -> Hold:
    """Place a pending hold of `amount`, drawn soonest-expiring credit first, with a deadline `ttl` from now
    (default `ATELIER_CREDIT_HOLD_TTL_SECONDS`). Raises InsufficientCredits (402). Idempotent on `ref`:
    the same ref returns the same hold (another user or amount under that ref → Conflict `hold_ref_conflict`)."""
    _positive("amount", amount)
    _ref("ref", ref)
    _aware("now", now)
    if ttl is None:
        ttl = timedelta(seconds=get_settings().credit_hold_ttl_seconds)
    if ttl <= timedelta(0):
        raise BadRequest("ttl must be positive.", code="invalid_ttl")
    outcome, hold = repo.reserve_hold(conn, user_id=user_id, amount=amount, ref=ref, ttl=ttl, now=now)
    if outcome in ("reserved", "replayed") and hold is not None:
        return hold
    if outcome == "no_account":
        raise InsufficientCredits("This account has no credits.")
    if outcome == "insufficient":
        raise InsufficientCredits(f"{amount} credits are needed; fewer are available.")
    if outcome == "ref_conflict":
        raise Conflict("This hold reference is already used.", code="hold_ref_conflict")
    raise RuntimeError(f"credit_reserve answered {outcome!r}")


def post(conn: Connection, hold_id: UUID, amount: int | None = None, *, now: datetime | None = None) -> Hold:
    """Spend `amount` (0 ≤ amount ≤ reserved; default all) of a pending hold; the rest goes back to its
    grants. A resolved hold → HoldAlreadyResolved (409 `hold_already_resolved`), nothing changed."""
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount < 0):
        raise BadRequest("amount must be a whole number of credits, zero or more.", code="invalid_amount")
    _aware("now", now)
    return _resolve(conn, hold_id, amount if amount is not None else -1, now=now)


def void(conn: Connection, hold_id: UUID, *, now: datetime | None = None) -> Hold:
    """Release a pending hold entirely. A resolved hold → HoldAlreadyResolved, nothing changed."""
    _aware("now", now)
    return _resolve(conn, hold_id, None, now=now)


def expire_holds(conn: Connection, *, now: datetime | None = None, limit: int = 500) -> int:
    """Void up to `limit` pending holds whose deadline has passed; return how many this call voided.
    Safe to run twice at once: a hold another run voided first is skipped."""
    _aware("now", now)
    voided = 0
    for hold_id in repo.overdue_holds(conn, now=now, limit=limit):
        try:
            _resolve(conn, hold_id, None, now=now)
        except HoldAlreadyResolved:
            continue
        voided += 1
    return voided


def _resolve(conn: Connection, hold_id: UUID, posted: int | None, *, now: datetime | None) -> Hold:
    """posted: None voids, -1 posts everything, n posts n."""
    outcome, hold = repo.resolve_hold(conn, hold_id=hold_id, posted=posted, now=now)
    if outcome == "resolved" and hold is not None:
        return hold
    if outcome == "not_found":
        raise NotFound("No such hold.", code="hold_not_found")
    if outcome == "already_resolved" and hold is not None:
        raise HoldAlreadyResolved(f"This hold is already {hold.status}; nothing was changed.")
    if outcome == "invalid_amount" and hold is not None:
        raise BadRequest(f"Cannot post {posted} credits of a hold of {hold.amount}.", code="invalid_amount")
    raise RuntimeError(f"credit_resolve answered {outcome!r}")


# --- reading ---------------------------------------------------------------------------------------


def balance(conn: Connection, user_id: UUID, *, now: datetime | None = None) -> Balance:
    """Available (unexpired, unheld, unspent, unrevoked) and pending (held) credits."""
    _aware("now", now)
    return repo.balance(conn, user_id, now)


def live_grants(conn: Connection, user_id: UUID, *, now: datetime | None = None) -> list[Grant]:
    """The user's unexpired grants in spend order (soonest-expiring first)."""
    return repo.live_grants(conn, user_id, now)


def get_hold(conn: Connection, hold_id: UUID) -> Hold | None:
    return repo.get_hold(conn, hold_id)


def hold_by_ref(conn: Connection, ref: str) -> Hold | None:
    return repo.hold_by_ref(conn, ref)


def grant_by_source_ref(conn: Connection, source_ref: str) -> Grant | None:
    return repo.grant_by_source_ref(conn, source_ref)


def ledger(conn: Connection, user_id: UUID, *, cursor: str | None, limit: int) -> Page[LedgerEntry]:
    """The user's ledger entries, newest first."""
    after = Cursor.decode(cursor)
    rows = repo.ledger_page(conn, user_id, after=after, limit=limit + 1)
    return page_of(rows, limit, key=lambda entry: Cursor(entry.created_at, entry.id))


def _db_now(conn: Connection) -> datetime:
    row = conn.execute("select now() as now").fetchone()
    if row is None:
        raise RuntimeError("select now() answered nothing")
    value: datetime = row["now"]
    return value
