"""Read routes of the privacy center: what we hold (from the data map), the rights requests on record and the
policy versions the person accepted. Each answers for the caller only."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from fastapi import APIRouter

from functions.api.deps import AppSettings, CurrentCaller, Db
from functions.api.ratelimits import rate_limited
from functions.api.schemas import ResponseModel
from shared.policies import repo as policy_repo

if TYPE_CHECKING:  # the data map's holdings are imported by the call that reads them (cold start)
    from shared.privacy import holdings as held

router = APIRouter(prefix="/v1/me", tags=["privacy center"], dependencies=[rate_limited("account")])


class RetentionOut(ResponseModel):
    rule: str
    keep_days: int
    counted_from: str
    then: str
    description: str


class HoldingOut(ResponseModel):
    kind: str  # "table" or "storage"
    name: str
    purpose: str
    legal_basis: str | None
    retention: RetentionOut
    on_deletion: str  # "delete", "anonymise" or "keep pseudonymised"
    count: int | None


class CategoryOut(ResponseModel):
    category: str
    items: list[HoldingOut]


class GroupOut(ResponseModel):
    """One group of what we hold, in the words a person recognises."""

    id: str
    label: str  # "your images and uploads"
    what: str
    why: str
    kept_for: str
    count: int | None  # the caller's records in the group, where they can be counted
    deleted_with_account: bool
    kept_after_deletion: str | None  # what stays after erasure, why and for how long ("invoices for 10 years, …")


class HoldingsOut(ResponseModel):
    categories: list[CategoryOut]
    groups: list[GroupOut]  # the same data map, grouped and worded for people (shared/privacy/plain.py)
    deletion_grace_days: int  # days between `Delete my account` and erasure (cancellable meanwhile)


def _holding(h: "held.Holding") -> HoldingOut:
    r = h.retention
    return HoldingOut(
        kind=h.kind,
        name=h.name,
        purpose=h.purpose,
        legal_basis=h.legal_basis,
        retention=RetentionOut(
            rule=r.name, keep_days=r.keep.days, counted_from=str(r.counted_from), then=str(r.then), description=r.what
        ),
        on_deletion=str(h.on_deletion),
        count=h.count,
    )


@router.get("/data", summary="What we hold about the caller, by category, straight from the data map")
def get_data(caller: CurrentCaller, db: Db, settings: AppSettings) -> HoldingsOut:
    from shared.privacy import holdings as held

    with db.transaction() as conn:
        found = held.holdings(conn, caller.account.id)
    categories: dict[str, list[HoldingOut]] = {}
    for h in found:
        categories.setdefault(str(h.category), []).append(_holding(h))
    groups = [
        GroupOut(
            id=p.group.id,
            label=p.group.label,
            what=p.group.what,
            why=p.group.why,
            kept_for=p.group.kept_for,
            count=p.count,
            deleted_with_account=p.deleted_with_account,
            kept_after_deletion=p.group.kept_after_deletion,
        )
        for p in held.in_plain_words(found)
    ]
    return HoldingsOut(
        categories=[CategoryOut(category=c, items=items) for c, items in categories.items()],
        groups=groups,
        deletion_grace_days=settings.deletion_grace_days,
    )


class RequestOut(ResponseModel):
    id: UUID
    kind: str
    source: str
    status: str  # open, completed, refused, withdrawn
    received_at: datetime
    due_at: datetime
    extended_at: datetime | None
    extension_reason: str | None
    completed_at: datetime | None
    overdue: bool


class RequestsOut(ResponseModel):
    items: list[RequestOut]


@router.get("/requests", summary="The caller's privacy requests on record, with due dates and outcomes")
def get_requests(caller: CurrentCaller, db: Db) -> RequestsOut:
    from shared.privacy import requests as privacy_requests  # by the call: routes/__init__.py

    now = datetime.now(UTC)
    with db.transaction() as conn:
        found = privacy_requests.list_requests(conn, now=now, user_id=caller.account.id)
    found.sort(key=lambda r: r.received_at, reverse=True)
    return RequestsOut(
        items=[
            RequestOut(
                id=r.id,
                kind=r.kind,
                source=r.source,
                status=r.status,
                received_at=r.received_at,
                due_at=r.due_at,
                extended_at=r.extended_at,
                extension_reason=r.extension_reason,
                completed_at=r.completed_at,
                overdue=r.overdue(now),
            )
            for r in found
        ]
    )


class AcceptedOut(ResponseModel):
    kind: str
    version: int
    accepted_at: datetime
    url: str


class AcceptancesOut(ResponseModel):
    items: list[AcceptedOut]


@router.get("/policy-acceptances", summary="The policy versions the caller accepted, newest first")
def get_acceptances(caller: CurrentCaller, db: Db) -> AcceptancesOut:
    with db.transaction() as conn:
        found = policy_repo.acceptances(conn, caller.account.id)
    return AcceptancesOut(
        items=[
            AcceptedOut(
                kind=a.kind, version=a.version, accepted_at=a.accepted_at, url=f"/v1/policies/{a.kind}/{a.version}"
            )
            for a in found
        ]
    )
