"""The local stack's own output (uvicorn, the API, the database start-up) holds no email, token or address."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_local_stack import ROOT, _free_port, _token, _wait_healthy

EMAIL = "katherine.johnson@example.com"


@pytest.mark.slow
def test_local_stack_logs_are_json_and_redacted(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_JWT_SECRET")}
    log_file = tmp_path / "stack.log"
    with log_file.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "deploy.py", "local", "--data-dir", str(data_dir), "--port", str(port), "--workers", "0"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(base, proc)
        token = _token(data_dir, EMAIL)
        with httpx.Client(base_url=base, timeout=5) as client:
            me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200
            denied = client.get("/v1/me", headers={"Authorization": f"Bearer {token}x"})
            assert denied.status_code == 401
            assert client.get(f"/v1/people/{EMAIL}").status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log_file.read_text()
    assert EMAIL not in output
    assert token not in output
    # The server's own bind address is printed (it is not personal data, and it shows a port clash); no other
    # line carries an address: the requests came from 127.0.0.1 too.
    assert f"Uvicorn running on http://127.0.0.1:{port}" in output
    assert [line for line in output.splitlines() if "127.0.0.1" in line and "Uvicorn running on" not in line] == []
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    access = {r["request_id"]: r for r in records if r["logger"] == "atelier.access"}
    assert access[me.headers["x-request-id"]]["status"] == 200
    assert access[denied.headers["x-request-id"]]["status"] == 401
    assert not any(r["logger"] == "uvicorn.access" for r in records)
