"""`deploy.py token --data-dir` signs with that folder's key, like `deploy.py local --data-dir`; a token from
another folder's key answers 401 with a message that says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database
from tests.support.tokens import bearer

ROOT = Path(__file__).resolve().parents[2]


def _token(data_dir: Path, email: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ATELIER_DATA_DIR"}
    result = subprocess.run(
        [sys.executable, "deploy.py", "token", email, "--data-dir", str(data_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def test_a_token_for_this_data_folder_works_and_another_folders_token_is_named(tmp_path: Path, db: Database) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    mine, foreign = _token(here, "ada@example.com"), _token(elsewhere, "ada@example.com")
    assert Settings(data_dir=here).dev_key_path.exists()
    assert Settings(data_dir=elsewhere).dev_key_path.exists()
    with TestClient(create_app(Settings(data_dir=here), db)) as client:
        assert client.get("/v1/me", headers=bearer(mine)).status_code == 200
        refused = client.get("/v1/me", headers=bearer(foreign))
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert error["code"] == "invalid_token"
    assert "another data folder" in error["message"]
    assert "--data-dir" in error["message"]
