"""`python deploy.py privacy ...`: the register as an operator uses it, and the overdue reminder task."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions.tasks import TASKS
from shared.kit.db import Database
from tests.support.accounts import make_account

ROOT = Path(__file__).resolve().parents[2]


def _deploy(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "ATELIER_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "deploy.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_log_list_overdue_and_extend_once(db: Database, database_url: str, tmp_path: Path) -> None:
    make_account(db, "grace@example.com")
    logged = _deploy(
        database_url, tmp_path, "privacy", "log-request", "grace@example.com", "--kind", "erasure",
        "--received", "2026-01-10T09:00:00+00:00", "--reference", "mail-1",
    )  # fmt: skip
    assert logged.returncode == 0, logged.stderr
    request_id = logged.stdout.split()[0]
    assert "due 2026-02-10" in logged.stdout
    assert "grace@example.com" not in logged.stdout + logged.stderr
    overdue = _deploy(database_url, tmp_path, "privacy", "requests", "--overdue")
    assert overdue.returncode == 0, overdue.stderr
    assert request_id in overdue.stdout
    assert "OVERDUE" in overdue.stdout
    extended = _deploy(database_url, tmp_path, "privacy", "extend", request_id, "--reason", "many systems")
    assert extended.returncode == 0, extended.stderr
    assert "due 2026-04-10" in extended.stdout
    again = _deploy(database_url, tmp_path, "privacy", "extend", request_id, "--reason", "more")
    assert again.returncode == 2
    assert "request_already_extended" in again.stderr
    for verb in ("extend", "complete", "refuse"):  # refused before the database is opened, no traceback
        extra = ("--reason", "x") if verb == "extend" else ()
        malformed = _deploy(database_url, tmp_path, "privacy", verb, "not-an-id", *extra)
        assert malformed.returncode == 2
        assert "ID must be a request's id (a UUID" in malformed.stderr
        assert "Traceback" not in malformed.stderr
    unknown = _deploy(database_url, tmp_path, "privacy", "log-request", "who@example.com", "--kind", "access")
    assert unknown.returncode == 2
    assert "account_not_found" in unknown.stderr  # the refusal every EMAIL verb gives (deploy.py _by_email)


def test_notify_overdue_task_is_registered_and_reports_once(db: Database) -> None:
    from shared.privacy import requests

    ada = make_account(db)
    with db.transaction() as conn:
        requests.open_request(conn, ada, "export", now=datetime.now(UTC) - timedelta(days=40))
    task = TASKS["notify-overdue-requests"]
    assert task.run(db, datetime.now(UTC)) == 1
    assert task.run(db, datetime.now(UTC)) == 0
    assert "erase-accounts" in TASKS
