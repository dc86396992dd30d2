"""Reporting a gallery image: anyone, signed in or not, limited per address; a repeat from one reporter counts once."""

from typing import Literal
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from functions.api.deps import AppSettings, Db, OptionalCaller, RequestData
from functions.api.fields import MultilineText
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from functions.api.schemas import RequestModel, ResponseModel
from shared.kit.errors import NotFound
from shared.trust import reports
from shared.trust.reports import MAX_DETAILS, ReportReason

router = APIRouter(prefix="/v1/gallery", tags=["gallery"])


class ReportIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReportReason
    details: MultilineText | None = Field(None, max_length=MAX_DETAILS, description="what is wrong, for the reviewer")


class ReportOut(ResponseModel):
    status: Literal["received"]


@router.post(
    "/{media_id}/report",
    status_code=202,
    summary="Report a gallery image to the moderators",
    response_model=ReportOut,
    dependencies=[rate_limited("reports")],
    responses=errors(NotFound),
)
def report_gallery_item(
    *, media_id: UUID, body: ReportIn, caller: OptionalCaller, db: Db, settings: AppSettings, info: RequestData
) -> JSONResponse:
    """Always the same 202 for a first report and a repeat, so a reporter learns nothing about others."""
    reporter = reports.reporter_ref(
        settings.pseudonym_key,
        account_id=caller.account.id if caller else None,
        address=str(info.ip) if info.ip else None,
    )
    with db.transaction() as conn:
        reports.report(conn, media_id=media_id, reporter=reporter, reason=body.reason, details=body.details)
    return JSONResponse(ReportOut(status="received").model_dump(), status_code=202)
