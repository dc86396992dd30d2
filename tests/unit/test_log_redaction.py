"""The redaction filter: what it removes, and what it keeps readable."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared.logs import REDACTED, redact, request_id

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "secret",
    [
        "ada.lovelace+studio@example.co.uk",
        f"Bearer {JWT}",
        JWT,
        "bearer abc.def-ghi_jkl",
        "203.0.113.42",
        "10.0.0.1:8000",
        "2001:db8:85a3::8a2e:370:7334",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "::1",
        "fe80::1",
        "::ffff:192.0.2.128",
    ],
)
def test_redacts(secret: str) -> None:
    text = redact(f"peer said {secret} then left")
    assert REDACTED in text
    core = secret.removeprefix("Bearer ").removeprefix("bearer ").split(":8000")[0]
    assert core not in text


@pytest.mark.parametrize(
    "kept",
    [
        "job 1f0c7d8e-2b1a-4c3d-9e8f-0a1b2c3d4e5f finished",
        "started at 13:59:44 on 2026-11-23",
        "route /v1/jobs/{id} status 404 in 1.25 ms",
        "version 1.2.3 of pillow",
    ],
)
def test_keeps_ordinary_text(kept: str) -> None:
    assert redact(kept) == kept


def test_every_logger_goes_through_the_filter(log_output: io.StringIO) -> None:
    token = request_id.set("req-12345678")
    try:
        logging.getLogger("some.library").warning("login for %s from %s", "ada@example.com", "198.51.100.7")
        logging.getLogger("atelier.jobs").info(
            "job queued",
            extra={"prompt": "a portrait of my neighbour", "job_id": "j-1", "note": "contact grace@example.com"},
        )
        try:
            raise ValueError(f"bad header Bearer {JWT}")
        except ValueError:
            logging.getLogger("x").exception("failed")
    finally:
        request_id.reset(token)
    output = log_output.getvalue()
    for secret in ("ada@example.com", "198.51.100.7", "a portrait of my neighbour", "grace@example.com", JWT):
        assert secret not in output
    records = [json.loads(line) for line in output.splitlines()]
    assert [r["request_id"] for r in records] == ["req-12345678"] * 3
    assert records[1]["prompt"] == REDACTED
    assert records[1]["job_id"] == "j-1"
    assert "ValueError" in records[2]["exception"]


def test_the_servers_own_address_is_printed_but_nothing_else_of_its_kind(log_output: io.StringIO) -> None:
    server = logging.getLogger("uvicorn.error")
    server.info(
        "Uvicorn running on %s://%s:%d (Press CTRL+C to quit)",
        "http",
        "127.0.0.1",
        8731,
        extra={"color_message": "Uvicorn running on \x1b[1mhttp://127.0.0.1:8731\x1b[0m"},
    )
    server.error(OSError(98, "error while attempting to bind on address ('0.0.0.0', 8731): address already in use"))
    server.info("client 198.51.100.7 asked for %s", "ada@example.com")
    logging.getLogger("atelier.access").info("Uvicorn running on http://198.51.100.8:1")  # not the server's line
    records = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert records[0]["message"] == "Uvicorn running on http://127.0.0.1:8731 (Press CTRL+C to quit)"
    assert "color_message" not in records[0]
    assert "('0.0.0.0', 8731): address already in use" in records[1]["message"]
    assert records[2]["message"] == f"client {REDACTED} asked for {REDACTED}"
    assert "198.51.100.8" not in records[3]["message"]
