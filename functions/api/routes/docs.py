"""The OpenAPI description and the interactive docs, served by a router so they carry the `public` rate limit."""

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from functions.api.ratelimits import rate_limited

router = APIRouter(tags=["meta"], include_in_schema=False, dependencies=[rate_limited("public")])


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} - docs")
