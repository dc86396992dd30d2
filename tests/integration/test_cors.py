"""CORS as a browser on the frontend's origin sees it: preflights for every header the API reads, exposed
response headers, and a refused preflight in the API's JSON error shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.people import onboard, person

ORIGIN = "https://studio.example"  # the configured origin (tests/conftest.py)


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/v1/me", "authorization, x-device-id, x-screen-resolution, sec-gpc, accept-language"),
        ("POST", "/v1/jobs", "authorization, content-type, idempotency-key, x-device-id, sec-gpc"),
        ("POST", "/v1/consents", "content-type, x-device-id, x-screen-resolution, sec-gpc"),
        ("GET", "/v1/jobs/00000000-0000-0000-0000-000000000000/events", "authorization, last-event-id"),
    ],
)
def test_a_preflight_with_every_header_the_api_reads_is_allowed(
    client: TestClient, method: str, path: str, headers: str
) -> None:
    response = client.options(
        path,
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers},
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    allowed = {name.strip().lower() for name in response.headers["access-control-allow-headers"].split(",")}
    assert {name.strip() for name in headers.split(",")} <= allowed


def test_retry_after_request_id_and_content_disposition_are_readable_by_the_page(client: TestClient) -> None:
    who = person()
    onboard(client, who)
    response = client.get("/v1/me", headers={**who.headers, "Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "content-disposition", "x-request-id"} <= exposed


@pytest.mark.parametrize(
    "preflight",
    [
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-not-read"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "TRACE"},
    ],
)
def test_a_refused_preflight_answers_the_json_error_shape(client: TestClient, preflight: dict[str, str]) -> None:
    response = client.options("/v1/me", headers=preflight)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == "cors_preflight_refused"
    assert body["error"]["message"].startswith("Disallowed CORS")
    assert response.headers.get("access-control-allow-origin") in (None, ORIGIN)
    assert "x-request-id" in response.headers
