"""Data exports (access and portability): ask for one, then poll it until it has a download link.

Every route here stays open while the account awaits deletion (shared/access/locks.locked_may)."""

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from fastapi import APIRouter, BackgroundTasks, Request

from functions.api.deps import DEFAULT_LIMIT, AppSettings, CurrentCaller, Db, Limit, PageCursor, Storage
from functions.api.ratelimits import rate_limited
from functions.api.schemas import ResponseModel
from shared.kit.db import Database
from shared.media.storage import Storage as ObjectStorage

if TYPE_CHECKING:  # the export builder (ZIP archive, data map) is imported by these routes' calls (cold start)
    from shared.privacy import exports

log = logging.getLogger("atelier.api.exports")

router = APIRouter(prefix="/v1/me", tags=["privacy"])


class ExportCreated(ResponseModel):
    id: UUID
    status: str


class ExportOut(ResponseModel):
    id: UUID
    status: str  # pending | building | ready | failed | expired
    requested_at: datetime
    url: str | None = None  # only while ready; expires with the export
    expires_at: datetime | None = None


def _build_now(db: Database, storage: ObjectStorage, export_id: UUID, days: int) -> None:
    """Runs after the response: a head start only. The build-exports task is the source of truth and takes over
    anything this does not finish (a failure here is recorded on the row and retried by the task)."""
    from shared.privacy import exports  # lazy: see the imports

    try:
        exports.build_exports(db, storage, now=datetime.now(UTC), days=days, ids=[export_id], limit=1)
    except Exception:
        log.warning("in-process export build failed; the scheduled task retries", extra={"export_id": str(export_id)})


@router.post(
    "/exports",
    status_code=202,
    summary="Ask for a copy of all your data (a ZIP); answers the open request if one is pending",
    dependencies=[rate_limited("exports")],
)
def request_export(
    caller: CurrentCaller, db: Db, storage: Storage, settings: AppSettings, background: BackgroundTasks
) -> ExportCreated:
    from shared.privacy import exports

    with db.transaction() as conn:
        export, created = exports.request_export(conn, caller.account.id, now=datetime.now(UTC))
    if created and settings.build_exports_inline:
        background.add_task(_build_now, db, storage, export.id, settings.export_days)
    return ExportCreated(id=export.id, status=export.status)


class ExportPage(ResponseModel):
    items: list[ExportOut]
    next_cursor: str | None


@router.get(
    "/exports",
    summary="Your exports, newest first, with download links while they are ready (`url` null otherwise)",
    dependencies=[rate_limited("account")],
)
def list_exports(
    *,
    request: Request,
    caller: CurrentCaller,
    db: Db,
    storage: Storage,
    limit: Limit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
) -> ExportPage:
    """Open to an account awaiting deletion too: the right of access outlives the wish to be deleted."""
    from shared.privacy import exports

    with db.transaction() as conn:
        page = exports.list_owned(conn, caller.account.id, cursor=cursor, limit=limit)
    return ExportPage(items=[_export_out(request, e, storage) for e in page.items], next_cursor=page.next_cursor)


@router.get(
    "/exports/{export_id}",
    summary="The state of one of your exports, with a download link while it is ready",
    response_model_exclude_none=True,
    dependencies=[rate_limited("account")],
)
def get_export(request: Request, export_id: UUID, caller: CurrentCaller, db: Db, storage: Storage) -> ExportOut:
    from shared.privacy import exports

    with db.transaction() as conn:
        export = exports.get_owned(conn, caller.account.id, export_id)
    return _export_out(request, export, storage)


def _export_out(request: Request, export: "exports.Export", storage: ObjectStorage) -> ExportOut:
    now = datetime.now(UTC)
    out = ExportOut(id=export.id, status=export.status, requested_at=export.requested_at)
    if export.status == "ready" and not export.available(now):
        out.status = "expired"  # past its expiry; the expire-exports task deletes the archive on its next run
    elif export.available(now) and export.storage_key and export.expires_at:
        seconds = max(1, int((export.expires_at - now).total_seconds()))
        name = f"atelier-export-{export.requested_at.date().isoformat()}.zip"  # saved as a ZIP, not as the token
        url = storage.signed_url(export.storage_key, seconds, download=name)  # dies with the export, never later
        out.url = f"{str(request.base_url).rstrip('/')}{url}" if url.startswith("/") else url
        out.expires_at = export.expires_at
    return out
