from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from functions.api.deps import CurrentCaller, Db, PageCursor
from functions.api.ratelimits import rate_limited
from functions.api.schemas import ResponseModel
from shared.credits import service
from shared.credits.models import GrantKind, LedgerType
from shared.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/v1/credits", tags=["credits"], dependencies=[rate_limited("account")])


class GrantOut(ResponseModel):
    id: UUID
    kind: GrantKind
    amount: int
    remaining: int
    expires_at: datetime | None
    created_at: datetime


class CreditsOut(ResponseModel):
    available: int
    pending: int
    grants: list[GrantOut]


class LedgerEntryOut(ResponseModel):
    id: UUID
    type: LedgerType
    amount: int
    created_at: datetime
    ref: str | None
    grant_id: UUID | None
    hold_id: UUID | None


class LedgerPage(ResponseModel):
    items: list[LedgerEntryOut]
    next_cursor: str | None


@router.get("", summary="The caller's credit balance and unexpired grants (in spend order)")
def get_credits(caller: CurrentCaller, db: Db) -> CreditsOut:
    with db.transaction() as conn:
        balance = service.balance(conn, caller.account.id)  # both at the transaction's now()
        grants = service.live_grants(conn, caller.account.id)
    return CreditsOut(
        available=balance.available,
        pending=balance.pending,
        grants=[
            GrantOut(
                id=g.id,
                kind=g.kind,
                amount=g.amount,
                remaining=g.remaining,
                expires_at=g.expires_at,
                created_at=g.created_at,
            )
            for g in grants
        ],
    )


@router.get("/ledger", summary="The caller's credit movements, newest first")
def get_ledger(
    caller: CurrentCaller,
    db: Db,
    cursor: PageCursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> LedgerPage:
    with db.transaction() as conn:
        page = service.ledger(conn, caller.account.id, cursor=cursor, limit=limit)
    return LedgerPage(
        items=[
            LedgerEntryOut(
                id=e.id,
                type=e.type,
                amount=e.amount,
                created_at=e.created_at,
                ref=e.ref,
                grant_id=e.grant_id,
                hold_id=e.hold_id,
            )
            for e in page.items
        ],
        next_cursor=page.next_cursor,
    )
