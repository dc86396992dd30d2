"""Credits: grants, holds, balances and ledger entries as plain values."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from config.values import value

GrantKind = Literal["signup", "purchase", "subscription", "adjustment"]
GRANT_KINDS: tuple[GrantKind, ...] = ("signup", "purchase", "subscription", "adjustment")

HoldStatus = Literal["pending", "posted", "voided"]
LedgerType = Literal["grant", "hold", "post", "release", "void", "revoke", "expire"]


@value
class Grant:
    """Credits from one source (an order, a subscription period, the signup bonus, an operator)."""

    id: UUID
    user_id: UUID
    kind: GrantKind
    amount: int
    source_ref: str
    expires_at: datetime | None
    reason: str | None
    created_at: datetime
    remaining: int  # spendable now unless expired; held, spent and revoked credits are not in it
    spent: int
    revoked: int


@value
class Hold:
    """A reservation that resolves exactly once: posted (fully or partly) or voided."""

    id: UUID
    user_id: UUID
    ref: str
    amount: int
    status: HoldStatus
    posted_amount: int | None
    created_at: datetime
    expires_at: datetime  # after this deadline `expire_holds` voids it
    resolved_at: datetime | None


@value
class Balance:
    """Credits an account can spend now, and those held by pending holds (jobs not yet charged)."""

    available: int
    pending: int


@value
class LedgerEntry:
    """One row of an account's credit ledger, as its history shows it."""

    id: UUID
    type: LedgerType
    amount: int
    grant_id: UUID | None
    hold_id: UUID | None
    ref: str | None
    created_at: datetime
