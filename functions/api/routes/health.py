from fastapi import APIRouter
from fastapi.responses import JSONResponse

from functions.api.deps import Db

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and database reachability")
def healthz(db: Db) -> JSONResponse:
    if db.ping():
        return JSONResponse({"status": "ok"})
    return JSONResponse(
        {"status": "unavailable", "error": {"code": "database_unreachable", "message": "The database is unreachable."}},
        status_code=503,
    )
