"""Every outbound HTTP call has a timeout: clients are made in one place, and SDK clients are given one."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

from config.settings import Settings
from shared.accounts.auth_admin import SupabaseAuthAdmin
from shared.billing.polar_api import make_client
from shared.kit import http
from shared.media.storage import SupabaseStorage

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("shared", "functions", "config") for p in (ROOT / d).rglob("*.py")] + [ROOT / "deploy.py"]
# SDK clients that make HTTP calls, and the keyword that bounds them (each must be passed explicitly).
SDK_CLIENTS = {"Polar": "timeout", "PyJWKClient": "timeout", "SyncStorageClient": "http_client"}


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def unbounded_calls(source: str, filename: str) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        if name in ("Client", "AsyncClient") and filename != "shared/kit/http.py":
            problems.append(f"{filename}:{node.lineno}: an httpx client made outside shared/kit/http.py")
        keyword = SDK_CLIENTS.get(name)
        if keyword and keyword not in {k.arg for k in node.keywords}:
            problems.append(f"{filename}:{node.lineno}: {name}(...) without {keyword}=")
    return problems


def test_no_outbound_client_is_made_without_a_timeout() -> None:
    problems = []
    for path in SOURCES:
        problems += unbounded_calls(path.read_text(), path.relative_to(ROOT).as_posix())
    assert problems == []


def test_the_scan_catches_a_bare_client_and_an_sdk_without_timeout() -> None:
    bad = "import httpx\nc = httpx.Client()\np = Polar('token')\n"
    assert unbounded_calls(bad, "shared/billing/x.py") == [
        "shared/billing/x.py:2: an httpx client made outside shared/kit/http.py",
        "shared/billing/x.py:3: Polar(...) without timeout=",
    ]


def _settings(seconds: float) -> Settings:
    return Settings(http_timeout_seconds=seconds, polar_access_token="polar_oat_x")


def test_the_clients_carry_the_configured_timeout() -> None:
    settings = _settings(2.5)
    expected = httpx.Timeout(2.5, connect=2.5)
    with http.client(settings) as client:
        assert client.timeout == expected
    storage = SupabaseStorage("https://project.example", "sb_secret_x", "media", timeout=2.5)
    assert storage._http.timeout == expected
    admin = SupabaseAuthAdmin(settings)
    assert admin.settings.http_timeout_seconds == 2.5
    with make_client(settings) as polar:
        assert polar._client is not None
    assert http.timeout(_settings(60)) == httpx.Timeout(60, connect=http.MAX_CONNECT_SECONDS)


def test_a_zero_timeout_is_refused_rather_than_meaning_forever() -> None:
    with pytest.raises(ValueError, match="positive"):
        http.bounded(0)
