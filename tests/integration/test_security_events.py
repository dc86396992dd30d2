"""Repeated 401s from one address, or denials on id routes, raise one security event per window."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from config.limits import Budget
from config.settings import Settings
from functions.api.app import create_app
from functions.api.deps import CurrentCaller
from shared.kit.db import Database
from shared.kit.errors import NotFound
from shared.security.events import list_events, record_denial
from tests.support.tokens import HS256_SECRET, bearer, hs256

ROOT = Path(__file__).resolve().parents[2]
PROBER_IP = "198.51.100.23"

scratch = APIRouter(prefix="/v1/scratch")


@scratch.get("/things/{thing_id}")
def get_thing(thing_id: str, caller: CurrentCaller) -> dict[str, str]:
    raise NotFound()


def _settings(tmp_path: Path, **overrides: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        supabase_jwt_secret=HS256_SECRET,
        trusted_proxy_hops=1,
        rate_limit_overrides={"account.ip": "1000/60", **overrides},
    )


@pytest.fixture
def probed(tmp_path: Path, db: Database) -> Iterator[TestClient]:
    app: FastAPI = create_app(_settings(tmp_path, **{"auth_failures.ip": "5/600", "access_denied.user": "3/600"}), db)
    app.include_router(scratch)
    with TestClient(app, headers={"X-Forwarded-For": PROBER_IP}) as client:
        yield client


def test_repeated_401s_from_one_address_raise_one_event(probed: TestClient, db: Database) -> None:
    for _ in range(12):
        assert probed.get("/v1/me", headers=bearer("garbage")).status_code == 401
    events = list_events(db)
    assert [(e.kind, e.subject_kind, e.count, e.window_seconds) for e in events] == [("auth_failures", "ip", 6, 600)]
    assert PROBER_IP not in str(events[0])  # the subject is a keyed hash
    assert events[0].details == {"route": "/v1/me", "status": 401, "method": "GET"}


def test_denials_on_id_routes_raise_events_per_account(probed: TestClient, db: Database) -> None:
    token = bearer(hs256(email="mallory@example.com"))
    for n in range(6):
        assert probed.get(f"/v1/scratch/things/{n}", headers=token).status_code == 404
    assert probed.get("/v1/nothing-here").status_code == 404  # not an id route: not counted
    events = list_events(db)
    assert [(e.kind, e.subject_kind) for e in events] == [("access_denied", "account")]
    assert events[0].details["route"] == "/v1/scratch/things/{thing_id}"


def test_once_per_window_under_concurrency(db: Database) -> None:
    barrier = threading.Barrier(24)
    raised: list[object] = []

    def deny() -> None:
        barrier.wait()
        event = record_denial(
            db, kind="auth_failures", subject_kind="ip", subject=PROBER_IP, budget=Budget(5, 600), secret=b"s"
        )
        if event is not None:
            raised.append(event)

    threads = [threading.Thread(target=deny) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(raised) == 1
    assert len(list_events(db)) == 1


def test_deploy_lists_security_events(probed: TestClient, db: Database, database_url: str) -> None:
    for _ in range(7):
        probed.get("/v1/me")
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "deploy.py", "security", "events", "--since", "1h"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "auth_failures" in result.stdout
    assert "1 event(s)" in result.stdout
    assert PROBER_IP not in result.stdout + result.stderr
    future = subprocess.run(
        [sys.executable, "deploy.py", "security", "events", "--since", "2999-01-01"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "0 event(s)" in future.stdout
