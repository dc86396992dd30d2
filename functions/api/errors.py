"""One error shape for every failure: {"error": {"code", "message"}} with a stable code."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import AtelierError, RateLimited, Unauthorized

log = logging.getLogger("atelier.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, invalid or expired access token",
    403: "Refused for this account (locked awaiting deletion, under 13, ...)",
    404: "No such resource (or it belongs to someone else)",
    413: "Request body too large",
    422: "Invalid request",
    429: "Rate limited; see Retry-After",
    503: "A dependency (database, rate limiter, identity provider) is unavailable",
}


def declare_error_responses(app: FastAPI) -> None:
    """Every operation in the OpenAPI description names the error answers it can give, shaped as `ErrorBody`.

    Applied to the generated description (whatever way the framework builds it): 422/429/503 everywhere
    (replacing the framework's own 422 shape, which this API never sends), 400/413 where a body is read,
    401 and 403 where a bearer token is required, 404 where the path names a resource.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(error_schema.pop("$defs", {}))
        components["ErrorBody"] = error_schema
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                statuses = [422, 429, 503]
                if "requestBody" in operation:
                    statuses += [400, 413]
                if operation.get("security"):  # any signed-in call may meet a locked or blocked account
                    statuses += [401, 403]
                if "{" in path:
                    statuses.append(404)
                responses = operation.setdefault("responses", {})
                for status in statuses:
                    if status == 422 or str(status) not in responses:
                        responses[str(status)] = {
                            "description": _DESCRIPTIONS[status],
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                        }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def _atelier_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AtelierError):  # pragma: no cover - registered for AtelierError only
        raise exc
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return error_response(exc.status, exc.code, exc.message, headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for this type only
        raise exc
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = f"{where}: {first.get('msg', 'invalid value')}" if where else str(first.get("msg", "invalid request"))
    return error_response(422, "invalid_request", message)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for this type only
        raise exc
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=(type(exc), exc, exc.__traceback__))
    return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AtelierError, _atelier_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
