"""Body caps (declared and streamed), JSON depth, and the security headers on every response."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from starlette.types import Message

from config.limits import DEFAULT_BODY_LIMIT, body_limits
from config.settings import Settings
from functions.api.app import create_app
from functions.api.middleware import BodyLimitMiddleware
from shared.kit.db import Database
from tests.support.tokens import bearer, hs256

# Routes that read bodies, added to a real app the way a domain router is (the branch has none of its own yet).
scratch = APIRouter(prefix="/v1/scratch")


@scratch.post("/json")
def echo_json(payload: dict[str, Any]) -> dict[str, int]:
    return {"keys": len(payload)}


@scratch.post("/raw")
async def echo_raw(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@pytest.fixture
def scratch_client(app: FastAPI) -> Iterator[TestClient]:
    app.include_router(scratch)
    with TestClient(app) as client:
        yield client


def test_declared_oversize_body_is_413_before_reading(scratch_client: TestClient) -> None:
    response = scratch_client.post(
        "/v1/scratch/raw", content=b"x" * (DEFAULT_BODY_LIMIT + 1), headers={"content-type": "text/plain"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "x-request-id" in response.headers
    assert scratch_client.post("/v1/scratch/raw", content=b"x" * 1000).json() == {"bytes": 1000}


def test_streamed_oversize_body_is_cut_off_at_the_cap(scratch_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"y" * 64 * 1024  # 2.5 MB in chunks, no Content-Length

    response = scratch_client.post("/v1/scratch/raw", content=chunks(), headers={"content-type": "text/plain"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_streamed_oversize_json_is_413(scratch_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"a": "'
        for _ in range(20):
            yield b"z" * 64 * 1024
        yield b'"}'

    response = scratch_client.post("/v1/scratch/json", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_deep_json_is_422_and_shallow_json_passes(scratch_client: TestClient) -> None:
    deep = '{"a": ' + "[" * 40 + "]" * 40 + "}"
    response = scratch_client.post("/v1/scratch/json", content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert scratch_client.post("/v1/scratch/json", json={"a": [[1]], "b": 2}).json() == {"keys": 2}


def test_nothing_is_read_past_the_cap() -> None:
    """At the ASGI level: the middleware stops pulling chunks once the cap is crossed."""
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"q" * 300_000, "more_body": True}  # an endless stream

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Any, receive_: Any, send_: Any) -> None:
        while (await receive_())["type"] != "http.disconnect":
            pass

    scope = {"type": "http", "method": "POST", "path": "/v1/anything", "headers": [(b"content-type", b"text/plain")]}
    anyio.run(BodyLimitMiddleware(app, limits=body_limits(1000)), scope, receive, send)
    assert pulled == DEFAULT_BODY_LIMIT // 300_000 + 1
    assert sent[0]["status"] == 413


def test_security_headers_on_every_response(client: TestClient) -> None:
    for response in (client.get("/healthz"), client.get("/v1/me"), client.get("/nope"), client.get("/docs")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers  # plain http
    me = client.get("/v1/me", headers=bearer(hs256()))
    assert me.headers["cache-control"] == "no-store"
    assert me.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert client.get("/v1/me").headers["cache-control"] == "no-store"


def test_hsts_only_behind_tls(settings: Settings, db: Database, tmp_path: Path) -> None:
    with TestClient(create_app(settings, db), base_url="https://api.example") as tls:
        assert "max-age=" in tls.get("/healthz").headers["strict-transport-security"]
    with TestClient(create_app(settings, db)) as plain:
        forged = plain.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in forged.headers  # no trusted proxy: the header is ignored
    proxied = settings.model_copy(update={"trusted_proxy_hops": 1})
    with TestClient(create_app(proxied, db)) as behind_proxy:
        response = behind_proxy.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" in response.headers
        assert "strict-transport-security" not in behind_proxy.get("/healthz").headers
