"""POST /webhooks/polar: verified Polar events, recorded in the inbox and applied in one transaction.

Answers: 2xx for every verified delivery that needs no retry (applied, duplicate, ignored, unmatched,
unparseable); 403 `invalid_signature` when verification fails (nothing stored); 503 `webhooks_disabled`
without a secret; 5xx `webhook_processing_failed` when applying raised, after rolling everything back, so
Polar retries the same webhook-id and the retry applies it once.
"""

import logging
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from config.settings import Settings
from functions.api.errors import error_response
from functions.api.raises import ErrorBody, errors
from functions.api.ratelimits import AddressCheck, checked_in_handler
from shared.kit.db import Database
from shared.kit.errors import InvalidSignature, PayloadTooLarge, WebhooksDisabled

log = logging.getLogger("atelier.webhooks")

router = APIRouter(tags=["webhooks"])


def handle_polar_delivery(db: Database, settings: Settings, body: bytes, headers: dict[str, str]) -> JSONResponse:
    # polar-sdk takes about a third of the API's import time: imported by the first delivery, not at cold start.
    from shared.billing import service
    from shared.billing.catalogue import load_catalogue
    from shared.billing.webhooks import verify

    delivery = verify(body, headers, settings.polar_webhook_secret)
    catalogue = load_catalogue(settings.products_file)
    try:
        with db.transaction() as conn:
            outcome = service.receive(conn, delivery, catalogue=catalogue)
    except Exception as exc:
        log.exception("webhook effect failed", extra={"webhook_id": delivery.webhook_id, "type": delivery.event_type})
        with db.transaction() as conn:
            service.record_failure(conn, delivery, exc)
        return error_response(
            500, "webhook_processing_failed", "The event could not be applied; it was rolled back for a retry."
        )
    log.info(
        "webhook received",
        extra={"webhook_id": delivery.webhook_id, "type": delivery.event_type, "outcome": outcome.status},
    )
    return JSONResponse({"status": outcome.status, "note": outcome.note}, status_code=200)


@router.post(
    "/webhooks/polar",
    summary="Polar webhook endpoint (Standard Webhooks signatures)",
    responses={
        **errors(InvalidSignature, PayloadTooLarge, WebhooksDisabled),
        500: {"description": "`webhook_processing_failed`: rolled back; Polar retries", "model": ErrorBody},
    },
)
async def polar_webhook(
    request: Request, limiter: Annotated[AddressCheck, checked_in_handler("webhooks")]
) -> JSONResponse:
    # The sending address's limiter runs first in the one call to the thread pool (`limiter.then`): as a sync
    # dependency it was a hand-off of its own on every delivery (issue 34). Its refusals (429, 503) still come before
    # this route's own (413, then 503 `webhooks_disabled` and 403), as they did when it ran as a dependency; a
    # body is read (at most 1 MiB, the body cap in config/limits.py) before an address over its budget is refused.
    from shared.billing.webhooks import MAX_BODY_BYTES

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        await run_in_threadpool(limiter)
        raise PayloadTooLarge("A webhook body is at most 1 MB.")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        await run_in_threadpool(limiter)
        raise PayloadTooLarge("A webhook body is at most 1 MB.")
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    return await run_in_threadpool(limiter.then, handle_polar_delivery, db, settings, body, dict(request.headers))
