"""Error shape, request ids, CORS, health and OpenAPI."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database


def test_unknown_route_is_a_json_404_with_request_id(client: TestClient) -> None:
    response = client.get("/v1/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    assert len(response.headers["x-request-id"]) >= 8


def test_wrong_method_is_405_json(client: TestClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_well_formed_request_id_is_echoed_and_bad_one_replaced(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc12345-trace"}).headers["x-request-id"] == "abc12345-trace"
    )
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert replaced != "bad id\twith spaces"
    assert len(replaced) == 32


def test_cors_allows_only_configured_origins(client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = client.options("/v1/me", headers={"Origin": "https://studio.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://studio.example"
    denied = client.options("/v1/me", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in denied.headers


def test_healthz_ok_with_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_503_when_database_unreachable(tmp_path: Path) -> None:
    unreachable = Database(f"postgresql://postgres@/postgres?host={tmp_path}&connect_timeout=1", min_size=0, max_size=1)
    unreachable.pool.open(wait=False)
    try:
        with TestClient(create_app(Settings(data_dir=tmp_path), unreachable)) as client:
            response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_unreachable"
    finally:
        unreachable.close()


def test_openapi_lists_v1_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/me" in spec["paths"]
    assert "/healthz" in spec["paths"]
