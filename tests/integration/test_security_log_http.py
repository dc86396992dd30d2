"""Device and connection data per authenticated request, and its retention (time-travel)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database
from shared.retention.service import enforce_retention, keep_from_settings
from shared.retention.sweeps import SWEEPS
from tests.support.people import person
from tests.support.tokens import HS256_SECRET

SECURITY_LOG = next(sweep for sweep in SWEEPS if sweep.table == "security_log")


def _anonymise(db: Database, *, now: datetime, days: int = 90, batch: int = 1000) -> int:
    """What the scheduled `enforce-retention` task does to the security log (its sweep alone), at `now`."""
    report = enforce_retention(
        db, None, now=now, keep={"security_log": timedelta(days=days)}, sweeps=[SECURITY_LOG], batch=batch
    )
    return report.sweeps[0].items


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)


def _client(app: FastAPI, host: str) -> TestClient:
    return TestClient(app, client=(host, 51000))


@pytest.fixture
def v4(app: FastAPI) -> Iterator[TestClient]:
    with _client(app, "198.51.100.23") as client:
        yield client


def _log(db: Database) -> list[dict[str, object]]:
    with db.transaction() as conn:
        return conn.execute(
            """select user_id, host(ip) as ip, user_agent, browser, os, device_type, language, screen, method, route,
                      anonymised_at from security_log order by id"""
        ).fetchall()


def test_each_authenticated_request_records_device_and_connection_data(v4: TestClient, db: Database) -> None:
    ada = person()
    headers = {
        **ada.headers,
        "User-Agent": IPHONE,
        "Accept-Language": "de-CH,de;q=0.9,en;q=0.8",
        "X-Screen-Resolution": "1179x2556",
        "X-Forwarded-For": "192.0.2.99",  # not believed: no trusted proxy configured
    }
    assert v4.get("/v1/me", headers=headers).status_code == 200
    assert v4.get("/v1/me/notifications", headers={**ada.headers, "X-Screen-Resolution": "huge"}).status_code == 200
    assert v4.get("/v1/policies/current").status_code == 200  # anonymous: nothing to log
    rows = _log(db)
    assert rows[0] == {
        "user_id": ada.id,
        "ip": "198.51.100.23",
        "user_agent": IPHONE,
        "browser": "Safari",
        "os": "iOS",
        "device_type": "mobile",
        "language": "de-CH",
        "screen": "1179x2556",
        "method": "GET",
        "route": "/v1/me",
        "anonymised_at": None,
    }
    assert rows[1]["screen"] is None
    assert rows[1]["route"] == "/v1/me/notifications"
    assert len(rows) == 2


def test_route_templates_not_concrete_paths_are_logged(v4: TestClient, db: Database) -> None:
    ada = person()
    v4.post("/v1/me/notifications/00000000-0000-0000-0000-000000000001/seen", headers=ada.headers)
    assert _log(db)[0]["route"] == "/v1/me/notifications/{notification_id}/seen"


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(tmp_path: Path, db: Database) -> None:
    settings = Settings(data_dir=tmp_path / "d", supabase_jwt_secret=HS256_SECRET, trusted_proxies="10.0.0.0/8")
    app = create_app(settings, db)
    ada = person()
    with _client(app, "10.1.2.3") as proxied:
        proxied.get("/v1/me", headers={**ada.headers, "X-Forwarded-For": "2001:db8:abcd:12::7, 10.9.9.9"})
    with _client(app, "203.0.113.5") as direct:
        direct.get("/v1/me", headers={**ada.headers, "X-Forwarded-For": "192.0.2.1"})
    assert [row["ip"] for row in _log(db)] == ["2001:db8:abcd:12::7", "203.0.113.5"]


def test_ips_are_anonymised_after_the_retention_period(app: FastAPI, db: Database) -> None:
    ada = person()
    with _client(app, "198.51.100.23") as client:
        client.get("/v1/me", headers={**ada.headers, "User-Agent": IPHONE})
    with _client(app, "2001:db8:abcd:12:34::9") as client:
        client.get("/v1/me", headers=ada.headers)
    now = datetime.now(UTC)
    assert _anonymise(db, now=now + timedelta(days=89)) == 0
    assert [row["ip"] for row in _log(db)] == ["198.51.100.23", "2001:db8:abcd:12:34::9"]
    later = now + timedelta(days=91)
    assert _anonymise(db, now=later) == 2
    rows = _log(db)
    assert [row["ip"] for row in rows] == ["198.51.100.0", "2001:db8:abcd::"]
    assert all(row["user_agent"] is None for row in rows)
    assert rows[0]["browser"] == "Safari"  # the coarse family stays
    assert all(row["anonymised_at"] is not None for row in rows)
    assert _anonymise(db, now=later) == 0


def test_anonymisation_runs_in_batches_and_concurrent_runs_share_the_work(app: FastAPI, db: Database) -> None:
    ada = person()
    with _client(app, "198.51.100.23") as client:
        for _ in range(9):
            client.get("/v1/me", headers=ada.headers)
    later = datetime.now(UTC) + timedelta(days=100)
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def run() -> None:
        barrier.wait()
        counts.append(_anonymise(db, now=later, batch=2))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 9
    assert {row["ip"] for row in _log(db)} == {"198.51.100.0"}


def test_the_retention_setting_is_honoured(db: Database, settings: Settings) -> None:
    assert settings.security_log_retention_days == 90
    ada = person()
    with _client(create_app(settings, db), "198.51.100.23") as client:
        client.get("/v1/me", headers=ada.headers)
    week = Settings(data_dir=settings.data_dir, security_log_retention_days=7)
    now = datetime.now(UTC) + timedelta(days=8)
    report = enforce_retention(db, None, now=now, keep=keep_from_settings(week), sweeps=[SECURITY_LOG])
    assert report.sweeps[0].items == 1


def test_the_retention_step_loops_batches_until_done(app: FastAPI, db: Database) -> None:
    ada = person()
    with _client(app, "198.51.100.23") as client:
        for _ in range(5):
            client.get("/v1/me", headers=ada.headers)
    later = datetime.now(UTC) + timedelta(days=91)
    assert _anonymise(db, now=later, batch=2) == 5
    assert _anonymise(db, now=later, batch=2) == 0
    assert {row["ip"] for row in _log(db)} == {"198.51.100.0"}
