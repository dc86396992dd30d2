"""One error shape for every failure: {"error": {"code", "message"}} with a stable code."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from functions.api.fields import UNSTORABLE
from functions.api.raises import ErrorBody, ErrorDetail, by_status, describe, raised_by
from shared.kit.errors import (
    AtelierError,
    Busy,
    InvalidCursor,
    NotFound,
    PolicyAcceptanceRequired,
    RateLimited,
    Unauthorized,
)
from shared.kit.text import strip_control_characters
from shared.policies.service import is_gate_exempt

__all__ = ["ErrorBody", "ErrorDetail", "declare_error_responses", "error_response", "install_error_handlers"]

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


_DESCRIPTIONS = {
    400: "Malformed request",
    413: "Request body too large",
    422: "Invalid request",
    503: "A dependency (database, rate limiter, identity provider) is unavailable",
}


def _dependency_errors(dependant: Dependant) -> list[type[AtelierError]]:
    """What every dependency in the tree (sub-dependencies included) declared with `@raises`."""
    found = list(raised_by(dependant.call))
    for sub in dependant.dependencies:
        found += _dependency_errors(sub)
    return found


def route_errors(route: RouteContext) -> list[type[AtelierError]]:
    """The errors a route can answer with, derived from what it depends on and which parameters it takes."""
    dependant: Dependant | None = getattr(route, "dependant", None)
    if dependant is None or route.path is None:
        return []
    found = _dependency_errors(dependant)
    if any(param.alias == "cursor" for param in dependant.query_params):
        found.append(InvalidCursor)
    methods = route.methods or set()
    if PolicyAcceptanceRequired in found and all(is_gate_exempt(method, route.path) for method in methods):
        found = [error for error in found if error is not PolicyAcceptanceRequired]  # the gate lets it through
    return found


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def _declare(path: str, operation: dict[str, Any], raised: list[type[AtelierError]]) -> None:
    """Add one operation's error answers to its `responses` (all shaped as `ErrorBody`)."""
    responses = operation.setdefault("responses", {})
    generic = [422, 503]
    if "requestBody" in operation:
        generic += [400, 413]
    for status in generic:
        declared = responses.get(str(status))
        if declared is None or declared.get("description") == "Validation Error":  # the framework's own 422
            responses[str(status)] = {"description": _DESCRIPTIONS[status]}
        elif _DESCRIPTIONS[status] not in declared["description"]:
            declared["description"] = f"{_DESCRIPTIONS[status]}; {declared['description']}"
    if "{" in path and "404" not in responses:
        responses["404"] = {"description": describe([NotFound])}
    for status, group in by_status(raised).items():
        declared = responses.setdefault(str(status), {"description": ""})
        if not all(f"`{error.code}`" in declared["description"] for error in group):
            declared["description"] = "; ".join(part for part in (declared["description"], describe(group)) if part)
    for status, declared in responses.items():
        if status.isdigit() and int(status) >= 400:  # every error answer is JSON, whatever the 2xx answer is
            declared["content"] = _error_content()


def declare_error_responses(app: FastAPI) -> None:
    """Every operation in the OpenAPI description names the error answers it can give, shaped as `ErrorBody`.

    Applied to the generated description: 422/503 everywhere (replacing the framework's own 422 shape,
    which this API never sends), 400/413 where a body is read, 404 where the path names a resource, and
    whatever the route's dependencies declared with `@raises` (401/403/428 from the caller dependency,
    429/503 from the rate limiter, 403 from the onboarding gate) plus 400 `invalid_cursor` where the route
    pages with a `cursor`. Statuses a route's own service calls raise come from its `responses=errors(...)`.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(error_schema.pop("$defs", {}))
        components["ErrorBody"] = error_schema
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        routes = {
            (method.lower(), route.path): route
            for route in iter_route_contexts(app.routes)
            for method in route.methods or ()
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                _declare(path, operation, route_errors(routes[(method, path)]) if (method, path) in routes else [])
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def log_unavailable(request: Request, exc: AtelierError) -> None:
    """One line per 503: the stable code, the class of what caused it (the exception it was raised from) and the
    route template; the request id comes with every record. Never the message, the request or who sent it."""
    cause = exc.__cause__ or exc.__context__
    route = getattr(request.scope.get("route"), "path", None) or "unmatched"
    log.warning(
        "unavailable",
        extra={
            "code": exc.code,
            "error_class": type(exc).__name__,
            "cause_class": type(cause).__name__ if cause is not None else None,
            "route": route,
        },
    )


async def _atelier_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AtelierError):  # pragma: no cover - registered for AtelierError only
        raise exc
    if exc.status == 503:
        log_unavailable(request, exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited | Busy):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return error_response(exc.status, exc.code, exc.message, headers, exc.details)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for this type only
        raise exc
    first = exc.errors()[0] if exc.errors() else {}
    # A dict key in the location is client text: echo it only cleaned (a lone surrogate cannot be encoded).
    where = strip_control_characters(".".join(str(part) for part in first.get("loc", ()) if part != "body"))
    message = f"{where}: {first.get('msg', 'invalid value')}" if where else str(first.get("msg", "invalid request"))
    # Text a field may not store (functions/api/fields.py `storable`) answers that field's own stable code.
    code = str((first.get("ctx") or {}).get("code", "")) if first.get("type") == UNSTORABLE else ""
    return error_response(422, code or "invalid_request", message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for this type only
        raise exc
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(exc.status_code, code, str(exc.detail), headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI documents for this path. The router's own `Allow` names only the first route
    whose path matched, so `PUT /v1/me` answered `Allow: GET` although the path also takes PATCH and DELETE."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.path is not None and route.methods and compile_path(route.path)[0].match(request.url.path):
            methods |= set(route.methods)
    return sorted(methods)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=(type(exc), exc, exc.__traceback__))
    return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AtelierError, _atelier_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
