"""CORS for the static frontend on another origin: every request header the API reads, the error shape on refusal.

A browser sends a preflight before any request carrying a non-safelisted header, so every header the API
reads from a browser (device data, GPC, idempotency, auth) must be allowed or the call never happens. A
refused preflight answers with the same JSON error shape as every other error, so a client can log its code.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from functions.api.deps import DEVICE_ID_HEADER, SCREEN_HEADER
from functions.api.middleware import REQUEST_ID_HEADER

# Every request header the API reads that a browser may send (safelisted ones included, to be explicit).
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "Accept-Language",
    "Idempotency-Key",
    DEVICE_ID_HEADER,
    SCREEN_HEADER,
    "Sec-GPC",
    "Last-Event-ID",
    REQUEST_ID_HEADER,
)
# Response headers a page's script may read: the request id, when to retry after 429/503, download names.
EXPOSED_HEADERS = (REQUEST_ID_HEADER, "Retry-After", "Content-Disposition")
ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PREFLIGHT_REFUSED = "cors_preflight_refused"


class JsonCorsMiddleware(CORSMiddleware):
    """Starlette's CORS handling, with a refused preflight answered as `{"error": {"code", "message"}}`."""

    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_credentials=False,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode(errors="replace")  # "Disallowed CORS origin, headers"
        body = json.dumps({"error": {"code": PREFLIGHT_REFUSED, "message": f"{reason}."}}).encode()
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() not in ("content-length", "content-type")
        }
        return Response(body, status_code=response.status_code, headers=headers, media_type="application/json")
