"""Fixtures shared by every test: a real embedded Postgres, one fresh database per test, the app."""

from __future__ import annotations

import io
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo

from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database, migrate
from shared.kit.db.embedded import embedded_database_url, stop_embedded
from shared.logs import configure_logging
from tests.support.tokens import HS256_SECRET

TEMPLATE_DB = "atelier_template"
# Where the browser tests (tests/browser/) write their screenshots; the run prints the folder at its end.
SCREENSHOTS = Path(os.environ.get("ATELIER_SCREENSHOTS", Path(__file__).resolve().parents[1] / ".data" / "screenshots"))
_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS.is_dir() and any(p.stat().st_mtime >= _STARTED for p in SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots of every page: {SCREENSHOTS}")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded Postgres per test process, with a migrated template database to clone."""
    url = embedded_database_url(tmp_path_factory.mktemp("pg"))
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"drop database if exists {TEMPLATE_DB}")
        admin.execute(f"create database {TEMPLATE_DB}")
    migrate(make_conninfo(url, dbname=TEMPLATE_DB))
    yield url
    stop_embedded()


@pytest.fixture
def database_url(pg_server: str) -> Iterator[str]:
    """A database of its own for each test, cloned from the migrated template (fast, fully isolated)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"create database {name} template {TEMPLATE_DB}")
    yield make_conninfo(pg_server, dbname=name)
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"drop database {name} with (force)")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, min_size=1, max_size=16).open()
    yield database
    database.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Local settings that accept HS256 tokens signed with the test secret."""
    return Settings(
        data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, cors_origins=["https://studio.example"]
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _root_logger_put_back() -> Iterator[None]:
    """Every test leaves the root logger as it found it. A test that configures logging (`deploy.main` does, as
    in production) would otherwise leave the root handler on that test's capture stream, which pytest closes:
    every later log line in the same worker, a library's thread included, then fails with "I/O operation on
    closed file" and is lost."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


@pytest.fixture
def log_output() -> io.StringIO:
    """Application logs as configured in production, captured (the root logger is put back after the test)."""
    stream = io.StringIO()
    configure_logging(logging.INFO, stream=stream)
    return stream
