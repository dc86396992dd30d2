"""A full connection pool is answered, not waited on: a request waits a bounded time for a connection, then gets 503
`busy` with Retry-After; never a hang, never a 500. `deploy.py deploy` refuses a deployment whose containers could
open more connections than the pooler accepts (config/connections.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database
from tests.support.people import person

ROOT = Path(__file__).resolve().parents[2]


def test_a_request_that_finds_the_pool_full_gets_503_busy_with_retry_after(
    database_url: str, settings: Settings
) -> None:
    db = Database(database_url, min_size=1, max_size=1, acquire_timeout=0.5).open()
    ada = person("ada@example.com")
    answers: list[tuple[int, str | None, dict[str, object]]] = []
    try:
        with TestClient(create_app(settings, db)) as client:
            assert client.get("/v1/me", headers=ada.headers).status_code == 200  # the account exists; the pool works
            with db.transaction():  # the only connection, held by someone else

                def ask() -> None:
                    answer = client.get("/v1/me", headers=ada.headers)
                    answers.append((answer.status_code, answer.headers.get("Retry-After"), answer.json()))

                worker = threading.Thread(target=ask)
                worker.start()
                worker.join(timeout=60)  # a hang detector, not a speed target
                assert not worker.is_alive(), "the request hung on a full pool"
            assert client.get("/v1/me", headers=ada.headers).status_code == 200  # and it recovers at once
    finally:
        db.close()
    [(status, retry_after, body)] = answers
    assert status == 503
    assert body["error"] == {"code": "busy", "message": "The service is busy; try again in a moment."}
    assert retry_after is not None
    assert int(retry_after) >= 1


def test_deploy_refuses_a_deployment_that_could_exceed_the_poolers_connection_limit(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "SUPABASE_", "POLAR_", "MODAL_"))}
    clean.update(
        {
            "HOME": str(tmp_path),
            "ATELIER_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",  # never reached: the budget is checked first
            "SUPABASE_URL": "http://127.0.0.1:1",
            "SUPABASE_SECRET_KEY": "sb_secret_budget-test",
            "ATELIER_DB_CONNECTION_LIMIT": "50",
        }
    )
    result = subprocess.run(
        [sys.executable, "deploy.py", "deploy"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "deploy refused: at full scale the functions may open" in result.stderr
    assert "ATELIER_DB_CONNECTION_LIMIT=50" in result.stderr
    assert "applied" not in result.stdout  # nothing migrated
