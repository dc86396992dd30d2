import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from functions.api.deps import Db
from functions.api.readiness import Readiness

router = APIRouter(tags=["health"])
log = logging.getLogger("atelier.api")


@router.get("/healthz", summary="Liveness, start-up readiness and database reachability")
def healthz(request: Request, db: Db) -> JSONResponse:
    """200 `{"status": "ok"}` once start-up work is done (the image classifier loaded) and the database answers;
    503 `not_ready` while starting, 503 `database_unreachable` when the database does not answer."""
    readiness: Readiness = request.app.state.readiness
    if not readiness.ready:
        log.info("unavailable", extra={"code": "not_ready", "route": "/healthz"})
        return JSONResponse(
            {
                "status": "starting",
                "error": {"code": "not_ready", "message": "Starting up: the image classifier is loading."},
            },
            status_code=503,
        )
    if db.ping():
        return JSONResponse({"status": "ok"})
    log.warning("unavailable", extra={"code": "database_unreachable", "route": "/healthz"})
    return JSONResponse(
        {"status": "unavailable", "error": {"code": "database_unreachable", "message": "The database is unreachable."}},
        status_code=503,
    )
