"""Privacy rights kept by the API: rectification, erasure (and its cancellation), restriction, objection."""

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import ConfigDict, Field, StrictBool

from config.settings import Settings
from functions.api.deps import AppSettings, CurrentCaller, Db
from functions.api.errors import ErrorBody
from functions.api.fields import MultilineText, NoControlCharacters, StoredText
from functions.api.ratelimits import rate_limited
from functions.api.routes.me import AccountOut, account_out
from functions.api.schemas import RequestModel, ResponseModel
from shared.accounts import preferences as prefs
from shared.accounts.models import PreferenceChange, ProfileCorrection
from shared.kit.db.database import Connection

# The rights' and erasure's services are imported by these routes' calls (cold start: routes/__init__.py).

router = APIRouter(prefix="/v1/me", tags=["privacy rights"], dependencies=[rate_limited("account")])

AVATAR_PATTERN = r"^https://[^\x00-\x1f\x7f-\x9f]*$"
Name = Annotated[StoredText | None, Field(max_length=200)]


class RectifyIn(RequestModel):
    """Only the fields sent change; null clears one."""

    model_config = ConfigDict(extra="forbid")
    display_name: Name = None
    full_name: Name = None
    avatar_url: Annotated[str, Field(max_length=2000, pattern=AVATAR_PATTERN), NoControlCharacters] | None = None


@router.patch("", summary="Correct the account's names or avatar (rectification)")
def patch_me(body: RectifyIn, caller: CurrentCaller, db: Db) -> AccountOut:
    from shared.privacy import rights  # lazy: see the imports

    with db.transaction() as conn:
        correction = ProfileCorrection(**body.model_dump(exclude_unset=True))
        rights.rectify(conn, caller.account.id, correction, now=datetime.now(UTC))
        return account_out(conn, caller.account.id)


class ErasureOut(ResponseModel):
    scheduled_for: datetime


@router.delete("", status_code=202, summary="Delete the account: locked now, erased after the grace period")
def delete_me(caller: CurrentCaller, db: Db, settings: AppSettings) -> ErasureOut:
    from shared.privacy import erasure  # lazy: see the imports

    with db.transaction() as conn:
        found = erasure.request_erasure(
            conn, caller.account.id, now=datetime.now(UTC), grace_days=settings.deletion_grace_days
        )
    return ErasureOut(scheduled_for=found.scheduled_for)


class CancelOut(ResponseModel):
    cancelled: bool  # false: no deletion was pending


@router.post(
    "/deletion/cancel",
    summary="Cancel a pending account deletion within the grace period",
    responses={409: {"model": ErrorBody, "description": "The grace period is over; erasure has begun"}},
)
def cancel_deletion(caller: CurrentCaller, db: Db) -> CancelOut:
    from shared.privacy import erasure  # lazy: see the imports

    with db.transaction() as conn:
        return CancelOut(cancelled=erasure.cancel_erasure(conn, caller.account.id, now=datetime.now(UTC)))


class RestrictionIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    restricted: StrictBool  # `0`, `"false"` and the like are refused, not read as a choice
    reason: Annotated[MultilineText | None, Field(min_length=1, max_length=500)] = None


class RestrictionOut(ResponseModel):
    restricted: bool
    since: datetime | None


@router.put("/restriction", summary="Restrict processing (data kept, nothing optional done) or lift it")
def put_restriction(body: RestrictionIn, caller: CurrentCaller, db: Db) -> RestrictionOut:
    from shared.privacy import rights  # lazy: see the imports

    with db.transaction() as conn:
        found = rights.set_restriction(
            conn, caller.account.id, restricted=body.restricted, reason=body.reason, now=datetime.now(UTC)
        )
    return RestrictionOut(restricted=found.restricted, since=found.since)


class PreferencesIn(RequestModel):
    """Only the choices sent change."""

    model_config = ConfigDict(extra="forbid")
    analytics: StrictBool | None = None
    marketing_emails: StrictBool | None = None
    gallery_display: StrictBool | None = None
    service_improvement: StrictBool | None = None


class PreferencesOut(ResponseModel):
    analytics: bool
    marketing_emails: bool
    gallery_display: bool
    service_improvement: bool
    # What service_improvement is before the person chooses (ATELIER_IMPROVEMENT_DEFAULT).
    service_improvement_default: Literal["opt_in", "opt_out"]
    # The service-improvement dataset versions that hold any of this account's images now (empty: none).
    improvement_dataset_versions: list[str]
    updated_at: datetime | None


def _prefs_out(conn: Connection, found: prefs.Preferences, user_id: UUID, settings: Settings) -> PreferencesOut:
    # Lazy: the dataset's holdings are read by the preferences routes only, not needed to start the API.
    from shared.dataset.holdings import versions_holding
    from shared.dataset.keys import dataset_key

    held = versions_holding(conn, key=dataset_key(settings), user_id=user_id)
    return PreferencesOut(
        analytics=found.analytics,
        marketing_emails=found.marketing_emails,
        gallery_display=found.gallery_display,
        service_improvement=found.service_improvement,
        service_improvement_default=settings.improvement_default,
        improvement_dataset_versions=sorted(held),
        updated_at=found.updated_at,
    )


@router.get("/preferences", summary="The account's choices about optional processing and the gallery")
def get_preferences(caller: CurrentCaller, db: Db, settings: AppSettings) -> PreferencesOut:
    user_id = caller.account.id
    with db.transaction() as conn:
        found = prefs.get_preferences(conn, user_id, improvement_default=settings.improvement_default)
        return _prefs_out(conn, found, user_id, settings)


@router.put("/preferences", summary="Change choices (objection); effective at once, recorded as events")
def put_preferences(body: PreferencesIn, caller: CurrentCaller, db: Db, settings: AppSettings) -> PreferencesOut:
    from shared.privacy import rights  # lazy: see the imports

    change = PreferenceChange(**body.model_dump(exclude_none=True))
    user_id = caller.account.id
    with db.transaction() as conn:
        found = rights.set_preferences(
            conn, user_id, change, now=datetime.now(UTC), improvement_default=settings.improvement_default
        )
        return _prefs_out(conn, found, user_id, settings)
