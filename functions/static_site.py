"""Serves the studio web app (`web/`): files as they are, no build step.

Every asset gets a content hash at start-up; `index.html` is served with an import map that sends each module
and stylesheet to `path?v=<hash>`, so those answers may be cached for a year (`immutable`) while `index.html`
itself is never cached and a deploy is seen on the next load. `config.json` is the page's one runtime
setting file (API base URL, auth mode, Supabase URL and publishable key), made from the settings, never code.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import mimetypes
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config.settings import Settings
from config.values import value
from functions.web_session import WebSession

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_IMPORT_MAP_MARK = "<!-- import-map -->"
_CSS_MARK = "/css/app.css"
API_PREFIXES = ("/v1/", "/webhooks/")


def runtime_config(settings: Settings) -> dict[str, object]:
    """What the page reads at start: where the API is and how people sign in here."""
    return {
        "api_base_url": (settings.web_api_base_url or "").rstrip("/"),
        # Google through Supabase wherever a publishable key is configured (always in production), else local.
        "auth_mode": "supabase" if settings.is_production or settings.supabase_publishable_key else "local",
        "supabase_url": settings.supabase_url,
        "supabase_publishable_key": settings.supabase_publishable_key,
    }


@value
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str
    version: str


def _load_assets(root: Path) -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name == "index.html" or path.name.startswith("."):
            continue
        body = path.read_bytes()
        content_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        assets["/" + path.relative_to(root).as_posix()] = Asset(
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            content_type=content_type,
            version=hashlib.sha256(body).hexdigest()[:12],
        )
    return assets


def _index(root: Path, assets: dict[str, Asset], config: dict[str, object]) -> tuple[bytes, str]:
    """index.html with the import map and hashed stylesheet link filled in, and its Content-Security-Policy."""
    modules = {url: f"{url}?v={a.version}" for url, a in assets.items() if url.endswith(".js")}
    import_map = json.dumps({"imports": modules}, separators=(",", ":"), sort_keys=True)
    html = (root / "index.html").read_text(encoding="utf-8")
    # Every module is fetched at once (they are small) instead of as each import is discovered.
    preloads = "".join(f'<link rel="modulepreload" href="{v}">' for v in sorted(modules.values()))
    html = html.replace(_IMPORT_MAP_MARK, f'<script type="importmap">{import_map}</script>{preloads}')
    for url, version in modules.items():  # entry scripts too: an import map does not apply to <script src>
        html = html.replace(f'src="{url}"', f'src="{version}"')
    if _CSS_MARK in assets:
        html = html.replace(f'href="{_CSS_MARK}"', f'href="{_CSS_MARK}?v={assets[_CSS_MARK].version}"')
    digest = base64.b64encode(hashlib.sha256(import_map.encode()).digest()).decode()
    origins = " ".join(str(o) for o in (config.get("api_base_url"), config.get("supabase_url")) if o)
    csp = (
        f"default-src 'self'; script-src 'self' 'sha256-{digest}'; style-src 'self'; "
        f"img-src 'self' data: blob: {origins}; connect-src 'self' {origins}; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return html.encode(), " ".join(csp.split())


def build_site(settings: Settings, root: Path = WEB_ROOT) -> Starlette:
    """An ASGI app serving the studio; unknown paths fall back to index.html (the app routes by URL)."""
    config = runtime_config(settings)
    assets = _load_assets(root)
    index, csp = _index(root, assets, config)
    config_body = json.dumps(config).encode()

    def page(_: Request) -> Response:
        return Response(
            index,
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": REVALIDATE, "Content-Security-Policy": csp},
        )

    def config_file(_: Request) -> Response:
        return Response(config_body, media_type="application/json", headers={"Cache-Control": REVALIDATE})

    def asset(request: Request) -> Response:
        path = request.url.path
        if path.startswith(API_PREFIXES):  # next to the API: an unknown API path is a JSON 404, never the page
            return JSONResponse({"error": {"code": "not_found", "message": "No such route."}}, status_code=404)
        found = assets.get(path)
        if found is None:
            return page(request) if "." not in path.rsplit("/", 1)[-1] else Response("Not found", status_code=404)
        hashed = request.query_params.get("v") == found.version
        headers = {
            "Cache-Control": IMMUTABLE if hashed else REVALIDATE,
            "ETag": f'"{found.version}"',
            "Vary": "Accept-Encoding",
        }
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(found.gzipped, media_type=found.content_type, headers=headers)
        return Response(found.body, media_type=found.content_type, headers=headers)

    return Starlette(
        routes=[
            *WebSession(settings).routes(),  # the session cookie, on the page's own origin (functions/web_session.py)
            Route("/", page, methods=["GET"]),
            Route("/index.html", page, methods=["GET"]),
            Route("/config.json", config_file, methods=["GET"]),
            Route("/{path:path}", asset, methods=["GET"]),
        ]
    )
