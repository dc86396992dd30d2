from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import Field

from functions.api.deps import CurrentCaller, Db, PageCursor
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from functions.api.schemas import RequestModel, ResponseModel
from shared.kit.errors import PolicyVersionNotCurrent, PolicyVersionNotFound, UnknownPolicyVersion
from shared.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from shared.policies import service as policies
from shared.policies.models import PolicyVersion

if TYPE_CHECKING:  # the notices are imported by their routes' calls (cold start: routes/__init__.py)
    from shared.notify import notifications

router = APIRouter(prefix="/v1", tags=["policies"])


class MarkdownResponse(PlainTextResponse):
    """Policy texts are Markdown; declared as such in the OpenAPI description too."""

    media_type = "text/markdown"


class PolicyOut(ResponseModel):
    version: int
    effective_at: datetime
    sha256: str
    material: bool
    url: str
    summary: str | None = None  # what changed since the previous version (set by `deploy.py policy publish --summary`)


class CurrentPoliciesOut(PolicyOut):
    terms: PolicyOut


def _out(policy: PolicyVersion) -> PolicyOut:
    return PolicyOut(
        version=policy.version,
        effective_at=policy.effective_at,
        sha256=policy.text_sha256,
        material=policy.material,
        url=policy.url,
        summary=policy.summary,
    )


@router.get(
    "/policies/current",
    summary="The privacy policy in force (with the terms alongside); public",
    dependencies=[rate_limited("public")],
)
def current_policies(db: Db) -> CurrentPoliciesOut:
    with db.transaction() as conn:
        privacy = policies.current(conn, "privacy")
        terms = policies.current(conn, "terms")
    return CurrentPoliciesOut(**_out(privacy).model_dump(), terms=_out(terms))


@router.get(
    "/policies/{kind}/{version}",
    summary="The exact text of one policy version; public",
    response_class=MarkdownResponse,
    dependencies=[rate_limited("public")],
    responses=errors(PolicyVersionNotFound),
)
def policy_text(kind: Literal["privacy", "terms"], version: int, db: Db) -> MarkdownResponse:
    try:
        with db.transaction() as conn:
            policy = policies.get_version(conn, kind, version)
    except UnknownPolicyVersion as exc:
        raise PolicyVersionNotFound(exc.message) from exc
    return MarkdownResponse(policy.text, headers={"X-Content-SHA256": policy.text_sha256})


class AcceptanceIn(RequestModel):
    version: int = Field(ge=1)
    kind: Literal["privacy", "terms"] = "privacy"


class AcceptanceOut(ResponseModel):
    kind: str
    version: int
    accepted_at: datetime


@router.post(
    "/me/policy-acceptances",
    status_code=201,
    summary="Accept the current version of a policy",
    dependencies=[rate_limited("account")],
    responses=errors(UnknownPolicyVersion, PolicyVersionNotCurrent),
)
def accept_policy(body: AcceptanceIn, caller: CurrentCaller, db: Db) -> AcceptanceOut:
    with db.transaction() as conn:
        acceptance = policies.accept(conn, caller.account.id, body.kind, body.version)
    return AcceptanceOut(kind=acceptance.kind, version=acceptance.version, accepted_at=acceptance.accepted_at)


class NotificationOut(ResponseModel):
    id: UUID
    kind: str
    title: str
    body: str
    created_at: datetime
    seen_at: datetime | None
    decision_id: UUID | None = None  # the moderation decision this notice states the reasons of: appealable
    appeal_ticket_id: UUID | None = None  # the appeal opened against it, if any


class NotificationPage(ResponseModel):
    items: list[NotificationOut]
    next_cursor: str | None


def _notification(n: "notifications.Notification") -> NotificationOut:
    return NotificationOut(
        id=n.id,
        kind=n.kind,
        title=n.title,
        body=n.body,
        created_at=n.created_at,
        seen_at=n.seen_at,
        decision_id=n.decision_id,
        appeal_ticket_id=n.appeal_ticket_id,
    )


@router.get("/me/notifications", summary="In-app notices, newest first", dependencies=[rate_limited("account")])
def list_notifications(
    caller: CurrentCaller,
    db: Db,
    cursor: PageCursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> NotificationPage:
    from shared.notify import notifications  # lazy: see the imports

    position = Cursor.decode(cursor)
    with db.transaction() as conn:
        page = notifications.list_for(conn, caller.account.id, cursor=position, limit=limit)
    return NotificationPage(items=[_notification(n) for n in page.items], next_cursor=page.next_cursor)


@router.post(
    "/me/notifications/{notification_id}/seen", summary="Mark a notice as seen", dependencies=[rate_limited("account")]
)
def mark_seen(notification_id: UUID, caller: CurrentCaller, db: Db) -> NotificationOut:
    from shared.notify import notifications  # lazy: see the imports

    with db.transaction() as conn:
        return _notification(notifications.mark_seen(conn, caller.account.id, notification_id))
