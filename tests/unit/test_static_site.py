"""The studio's static files: hashed assets cached for a year, index.html and config.json never, config from
settings, an import map whose hash the Content-Security-Policy allows, and unknown API paths left to the API."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from starlette.testclient import TestClient

from config.settings import Settings
from functions.static_site import IMMUTABLE, WEB_ROOT, build_site, runtime_config
from tests.support.production import MAIL_SETTINGS


def _client(tmp_path: Path, **settings: object) -> TestClient:
    return TestClient(build_site(Settings(data_dir=tmp_path, **settings)))  # type: ignore[arg-type]


def test_index_is_never_cached_and_points_at_hashed_assets(tmp_path: Path) -> None:
    client = _client(tmp_path)
    index = client.get("/")
    assert index.status_code == 200
    assert index.headers["cache-control"] == "no-cache"
    html = index.text
    css = re.search(r'href="(/css/app\.css\?v=[0-9a-f]{12})"', html)
    script = re.search(r'<script type="module" src="(/js/app\.js\?v=[0-9a-f]{12})"', html)
    assert css
    assert script
    hashed = client.get(css.group(1))
    assert (hashed.status_code, hashed.headers["cache-control"]) == (200, IMMUTABLE)
    assert client.get("/css/app.css").headers["cache-control"] == "no-cache"  # unhashed: revalidate
    body = (WEB_ROOT / "css" / "app.css").read_bytes()
    assert css.group(1).endswith(hashlib.sha256(body).hexdigest()[:12])


def test_every_module_is_in_the_import_map_and_the_csp_allows_exactly_that_map(tmp_path: Path) -> None:
    index = _client(tmp_path).get("/")
    found = re.search(r'<script type="importmap">(.*?)</script>', index.text)
    assert found
    imports = json.loads(found.group(1))["imports"]
    modules = {"/" + p.relative_to(WEB_ROOT).as_posix() for p in WEB_ROOT.rglob("*.js")}
    assert set(imports) == modules
    digest = base64.b64encode(hashlib.sha256(found.group(1).encode()).digest()).decode()
    csp = index.headers["content-security-policy"]
    assert f"script-src 'self' 'sha256-{digest}'" in csp
    assert "frame-ancestors 'none'" in csp


def test_assets_are_served_compressed_with_etags(tmp_path: Path) -> None:
    client = _client(tmp_path)
    plain = client.get("/js/api.js", headers={"Accept-Encoding": "identity"})
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "content-encoding" not in plain.headers
    etag = plain.headers["etag"]
    assert client.get("/js/api.js", headers={"If-None-Match": etag}).status_code == 304
    zipped = client.get("/js/api.js", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # the client decompressed it


def test_runtime_config_comes_from_settings_not_code(tmp_path: Path) -> None:
    local = _client(tmp_path).get("/config.json")
    assert local.headers["cache-control"] == "no-cache"
    assert local.json() == {
        "api_base_url": "",
        "auth_mode": "local",
        "supabase_url": None,
        "supabase_publishable_key": None,
    }
    pointed_at_supabase = Settings(
        data_dir=tmp_path, supabase_url="https://proj.supabase.co", supabase_publishable_key="k"
    )
    assert runtime_config(pointed_at_supabase)["auth_mode"] == "supabase"  # a local stack may use a real project
    production = Settings(
        data_dir=tmp_path,
        environment="production",
        database_url="postgresql://db.example/postgres",
        supabase_url="https://proj.supabase.co",
        supabase_secret_key="sb_secret_real_value",
        supabase_publishable_key="sb_publishable_abc",
        web_api_base_url="https://api.example/",
        **MAIL_SETTINGS,  # production also refuses to start without a real email sender (issue 19)
    )
    assert runtime_config(production) == {
        "api_base_url": "https://api.example",
        "auth_mode": "supabase",
        "supabase_url": "https://proj.supabase.co",
        "supabase_publishable_key": "sb_publishable_abc",
    }
    csp = TestClient(build_site(production)).get("/").headers["content-security-policy"]
    assert "connect-src 'self' https://api.example https://proj.supabase.co" in csp
    # Images only from the app, the API (local signed files), the storage origin, and data:/blob: (previews):
    # `https:` let an injected <img> send anything to any host.
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["img-src"] == "'self' data: blob: https://api.example https://proj.supabase.co"


def test_app_routes_get_the_page_and_unknown_api_paths_get_json_404(tmp_path: Path) -> None:
    client = _client(tmp_path)
    assert client.get("/studio").text == client.get("/").text
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert client.get("/js/missing.js").status_code == 404
