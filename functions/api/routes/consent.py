from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field, StrictBool

from config.cookies import CONSENT_CATEGORIES, COOKIES
from functions.api.cookies import clear_cookie, set_cookie
from functions.api.deps import CurrentCaller, Db, OptionalCaller, RequestData
from functions.api.fields import NoControlCharacters, storable
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from functions.api.schemas import RequestModel, ResponseModel
from shared.access.guard import can_process, record_analytics
from shared.accounts.preferences import improvement_on_by_default
from shared.consent import service as consent
from shared.consent.service import DEVICE_ID, InvalidDeviceId, UnknownConsentCategory
from shared.kit.db.database import Connection
from shared.kit.errors import UnknownPolicyVersion

router = APIRouter(prefix="/v1", tags=["consent"])


# The rules the consent service checks, described in the OpenAPI but not enforced by the framework, so a
# refusal keeps its stable code (`invalid_device_id`, `unknown_consent_category`).
DEVICE_ID_SCHEMA: dict[str, Any] = {"pattern": DEVICE_ID.pattern}
CATEGORIES_SCHEMA: dict[str, Any] = {"propertyNames": {"enum": sorted(CONSENT_CATEGORIES)}}


class ConsentIn(RequestModel):
    device_id: Annotated[
        str,
        Field(min_length=8, max_length=128, json_schema_extra=DEVICE_ID_SCHEMA),
        storable(code=InvalidDeviceId.code),
    ]
    categories: dict[Annotated[str, storable(code=UnknownConsentCategory.code)], StrictBool] = Field(
        json_schema_extra=CATEGORIES_SCHEMA
    )
    notice_version: int = Field(ge=1)


class ConsentOut(ResponseModel):
    device_id: str
    categories: dict[str, bool]
    requested: dict[str, bool] | None
    gpc: bool
    notice_version: int | None
    notice_sha256: str | None
    recorded_at: datetime | None


def _improvement(conn: Connection, user_id: UUID | None) -> bool:
    """The account's service-improvement choice (or the deployment's default); signed out there is none."""
    if user_id is None:
        return False
    chosen = consent.account_choice(conn, user_id, "service_improvement")
    return improvement_on_by_default() if chosen is None else chosen


def _out(event: consent.ConsentEvent | None, device_id: str, improvement: bool = False) -> ConsentOut:
    """`improvement`: the account's service-improvement choice in force (an account choice, not the banner's)."""
    if event is None:
        return ConsentOut(
            device_id=device_id,
            categories=dict.fromkeys(CONSENT_CATEGORIES, False) | {"service_improvement": improvement},
            requested=None,
            gpc=False,
            notice_version=None,
            notice_sha256=None,
            recorded_at=None,
        )
    return ConsentOut(
        device_id=event.device_id or device_id,  # an account-settings choice has no device of its own
        categories=dict.fromkeys(CONSENT_CATEGORIES, False) | event.categories | {"service_improvement": improvement},
        requested=event.requested,
        gpc=event.gpc,
        notice_version=event.notice_version,
        notice_sha256=event.notice_sha256,
        recorded_at=event.created_at,
    )


@router.post(
    "/consents",
    status_code=201,
    summary="Record cookie-banner choices (signed in or not); false withdraws",
    dependencies=[rate_limited("public")],
    responses=errors(InvalidDeviceId, UnknownConsentCategory, UnknownPolicyVersion),
)
def post_consent(  # noqa: PLR0917 - FastAPI injects each dependency by parameter
    body: ConsentIn, request: Request, response: Response, caller: OptionalCaller, info: RequestData, db: Db
) -> ConsentOut:
    user_id = caller.account.id if caller else None
    with db.transaction() as conn:
        event = consent.record(
            conn,
            device_id=body.device_id,
            user_id=user_id,
            categories=body.categories,
            notice_version=body.notice_version,
            ip=info.ip,
            user_agent=info.user_agent,
            gpc=info.gpc,
        )
        analytics = can_process(conn, user_id, "analytics", device_id=body.device_id, gpc=info.gpc)
        improvement = _improvement(conn, user_id)
    set_cookie(response, "atelier_device", body.device_id, allowed=True)
    if analytics:
        set_cookie(response, "atelier_aid", request.cookies.get("atelier_aid") or uuid4().hex, allowed=analytics)
    else:
        clear_cookie(request, response, "atelier_aid")
    return _out(event, body.device_id, improvement)


@router.get(
    "/consents/current",
    summary="The choice in force for this device (or the signed-in user)",
    dependencies=[rate_limited("public")],
    responses=errors(InvalidDeviceId),
)
def current_consent(
    caller: OptionalCaller,
    db: Db,
    device_id: Annotated[str, Query(min_length=8, max_length=128, json_schema_extra=DEVICE_ID_SCHEMA)],
) -> ConsentOut:
    consent.check_device_id(device_id)
    with db.transaction() as conn:
        user_id = caller.account.id if caller else None
        event = consent.current(conn, user_id=user_id, device_id=device_id)
        improvement = _improvement(conn, user_id)
    return _out(event, device_id, improvement)


class CookieOut(ResponseModel):
    name: str
    purpose: str
    essential: bool
    lifetime_seconds: int | None
    category: str | None


@router.get(
    "/consents/cookies",
    summary="The cookie registry: every cookie, its purpose and whether it is essential",
    dependencies=[rate_limited("public")],
)
def cookie_registry() -> list[CookieOut]:
    return [
        CookieOut(
            name=c.name,
            purpose=c.purpose,
            essential=c.essential,
            lifetime_seconds=c.lifetime_seconds,
            category=c.category,
        )
        for c in COOKIES
    ]


class AnalyticsIn(RequestModel):
    feature: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$"), NoControlCharacters]
    model: Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z0-9._:/-]+$"), NoControlCharacters] | None = None
    aspect_ratio: (
        Annotated[str, Field(max_length=16, pattern=r"^[0-9]{1,5}:[0-9]{1,5}$"), NoControlCharacters] | None
    ) = None
    edit_action: Annotated[str, Field(max_length=64, pattern=r"^[a-z0-9_.-]+$"), NoControlCharacters] | None = None


class AnalyticsOut(ResponseModel):
    recorded: bool


@router.post(
    "/analytics/events",
    status_code=202,
    summary="Report a feature use; kept only with analytics consent",
    dependencies=[rate_limited("account")],
)
def post_analytics(body: AnalyticsIn, caller: CurrentCaller, info: RequestData, db: Db) -> AnalyticsOut:
    with db.transaction() as conn:
        allowed = can_process(conn, caller.account.id, "analytics", device_id=info.device_id, gpc=info.gpc)
        recorded = record_analytics(
            conn,
            caller.account.id,
            feature=body.feature,
            model=body.model,
            aspect_ratio=body.aspect_ratio,
            edit_action=body.edit_action,
            allowed=allowed,
        )
    return AnalyticsOut(recorded=recorded)
