"""The OpenAPI description, and (outside production) the interactive docs, under the `public` rate limit.

`/docs` is Swagger UI, whose assets no installed package ships (FastAPI's default loads them from a CDN with a
floating `@5` version and no integrity check). So: it is served only by a local stack (`LOCAL_ROUTERS`, never in
production, where it would run a third party's script on the API's origin), its assets are one pinned version with
Subresource Integrity hashes (the sha384 of the files in the npm package `swagger-ui-dist@5.36.0`, which jsDelivr
serves unchanged), and its page carries a Content-Security-Policy allowing exactly those two files and its own
inline start-up script. `/openapi.json` stays everywhere: it is data, not script.
"""

import base64
import hashlib
import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from functions.api.ratelimits import rate_limited

router = APIRouter(tags=["meta"], include_in_schema=False, dependencies=[rate_limited("public")])
local_router = APIRouter(tags=["meta"], include_in_schema=False, dependencies=[rate_limited("public")])

SWAGGER_UI_VERSION = "5.36.0"
_CDN = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
SWAGGER_JS = (f"{_CDN}/swagger-ui-bundle.js", "sha384-fUpRgC19yPykTqzdrUbdAg8NTiu16NEKf9U12J+IJWCg8/1mEI8f2+PEIz60Wyd+")
SWAGGER_CSS = (f"{_CDN}/swagger-ui.css", "sha384-z/AtSaOHGn5MJ5auAHXUypohywlIWLBZo1jeGmhdpVIbCnFhxAH92cwdV41oyINc")

_START = (
    "SwaggerUIBundle({"
    + f"url: {json.dumps('/openapi.json')}, dom_id: '#swagger-ui', deepLinking: true, "
    + "presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]});"
)
_START_HASH = base64.b64encode(hashlib.sha256(_START.encode()).digest()).decode()
DOCS_CSP = (
    f"default-src 'none'; script-src {SWAGGER_JS[0]} 'sha256-{_START_HASH}'; "
    f"style-src {SWAGGER_CSS[0]} 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@local_router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{request.app.title} - docs</title>
<link rel="stylesheet" href="{SWAGGER_CSS[0]}" integrity="{SWAGGER_CSS[1]}" crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_JS[0]}" integrity="{SWAGGER_JS[1]}" crossorigin="anonymous"></script>
<script>{_START}</script>
</body>
</html>
"""
    return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP})
