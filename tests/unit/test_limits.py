"""Limits as data: budgets, overrides, per-route body caps, JSON depth, the Limit query alias, the HTTP client."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from config.limits import BUCKETS, DEFAULT_BODY_LIMIT, Budget, body_limit, body_limits, buckets_with
from config.settings import Settings
from functions.api.deps import DEFAULT_LIMIT, Limit
from functions.api.middleware import json_depth_exceeds
from shared.kit import http


def test_every_required_bucket_has_per_user_or_per_ip_budgets() -> None:
    for name in ("jobs", "uploads", "exports", "webhooks", "public", "auth_failures"):
        assert BUCKETS[name].user is not None or BUCKETS[name].ip is not None
    for name in ("jobs", "uploads", "exports"):
        assert BUCKETS[name].user is not None
        assert BUCKETS[name].ip is not None


def test_budget_parsing_and_overrides() -> None:
    assert Budget.parse("10/60") == Budget(10, 60)
    with pytest.raises(ValueError, match="LIMIT/SECONDS"):
        Budget.parse("10")
    changed = buckets_with({"jobs.user": "5/30"})
    assert changed["jobs"].user == Budget(5, 30)
    assert changed["jobs"].ip == BUCKETS["jobs"].ip
    assert BUCKETS["jobs"].user != Budget(5, 30)  # the defaults are not mutated


def test_rate_limits_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_RATE_LIMITS", "jobs.user=5/30, public.ip=50/60")
    monkeypatch.setenv("ATELIER_MAX_PROMPT_CHARS", "500")
    settings = Settings(data_dir=tmp_path)
    assert settings.rate_buckets["jobs"].user == Budget(5, 30)
    assert settings.rate_buckets["public"].ip == Budget(50, 60)
    assert settings.max_prompt_chars == 500
    monkeypatch.setenv("ATELIER_RATE_LIMITS", "jobs.user")
    with pytest.raises(ValueError, match="ATELIER_RATE_LIMITS"):
        Settings(data_dir=tmp_path)


def test_prompt_cap_default() -> None:
    assert Settings().max_prompt_chars == 2000


def test_body_caps_by_longest_prefix_follow_the_upload_limit() -> None:
    limits = body_limits(20_000_000)
    assert body_limit("/v1/me", limits) == DEFAULT_BODY_LIMIT
    assert body_limit("/v1/uploads", limits) > 20_000_000
    assert body_limit("/v1/uploads/abc", limits) == body_limit("/v1/uploads", limits)
    assert body_limit("/v1/support/tickets/x/messages", limits) > 5 * 20_000_000
    assert body_limit("/v1/uploads", body_limits(1000)) < 1000 + DEFAULT_BODY_LIMIT


def test_json_depth() -> None:
    assert not json_depth_exceeds(b'{"a": [1, {"b": 2}]}', 3)
    assert json_depth_exceeds(b'{"a": [1, {"b": 2}]}', 2)
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[{{{{{{{{"}', 2)  # brackets inside strings do not count
    assert not json_depth_exceeds(b'{"a": "\\"[[[[[[[["}', 2)  # nor after an escaped quote
    assert json_depth_exceeds(b"[" * 33 + b"]" * 33, 32)
    assert not json_depth_exceeds(b'["' + b"[" * 40 + b"]", 32)  # an unclosed string runs to the end
    assert json_depth_exceeds(b'["\\\\"' + b"[" * 40, 32)  # an escaped backslash does not escape the quote


def _bytewise_depth_exceeds(body: bytes, limit: int) -> bool:
    """The byte-by-byte walk `json_depth_exceeds` replaced (issue 34), kept here as its reference."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def test_json_depth_agrees_with_the_bytewise_walk() -> None:
    """The regular-expression version answers as the byte-by-byte walk it replaced, on texts made of the bytes that
    matter (quotes, backslashes, brackets) and others, valid JSON or not."""
    rng = random.Random(34)
    alphabet = b'"\\[]{}a,'
    for _ in range(20_000):
        body = bytes(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        for limit in (0, 1, 3):
            assert json_depth_exceeds(body, limit) == _bytewise_depth_exceeds(body, limit), (body, limit)


def test_limit_alias_bounds_pagination() -> None:
    app = FastAPI()

    @app.get("/items")
    def items(limit: Limit = DEFAULT_LIMIT) -> dict[str, int]:
        return {"limit": limit}

    client = TestClient(app)
    assert client.get("/items").json() == {"limit": DEFAULT_LIMIT}
    assert client.get("/items?limit=100").status_code == 200
    assert client.get("/items?limit=101").status_code == 422
    assert client.get("/items?limit=0").status_code == 422


def test_outbound_client_has_timeouts(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http_timeout_seconds=7.5)
    with http.client(settings) as client:
        assert client.timeout.read == 7.5
        assert client.timeout.connect == 5.0


def test_outbound_client_gives_up_on_a_hanging_service(tmp_path: Path) -> None:
    """A loopback service that accepts the connection and never answers: the read timeout ends the call."""
    settings = Settings(data_dir=tmp_path, http_timeout_seconds=0.3)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with http.client(settings, base_url=base) as client, pytest.raises(httpx.ReadTimeout):
            client.get("/v1/orders")
