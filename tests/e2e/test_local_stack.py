"""The README's first command, for real.

`deploy.py local` serves, answers a dev token, stops on Ctrl-C and reuses its data on the next start,
and its in-process worker renders a job with the tiny offline models.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(data_dir: Path, port: int, workers: int = 0) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_JWT_SECRET")}
    return subprocess.Popen(
        [
            sys.executable,
            "deploy.py",
            "local",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("local stack did not become healthy")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _token(data_dir: Path, email: str) -> str:
    env = {**os.environ, "ATELIER_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, "deploy.py", "token", email], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@pytest.mark.slow
def test_local_stack_serves_stops_and_reuses_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"

    proc = _start(data_dir, port)
    try:
        _wait_healthy(base, proc)
        token = _token(data_dir, "grace@example.com")
        me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "grace@example.com"
        assert httpx.get(f"{base}/v1/me", timeout=5).status_code == 401
    finally:
        assert _stop(proc) == 0

    proc = _start(data_dir, port)
    try:
        _wait_healthy(base, proc)
        again = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert again.json()["created_at"] == me.json()["created_at"]
    finally:
        assert _stop(proc) == 0


@pytest.mark.slow
def test_local_stack_renders_a_job_with_its_in_process_worker(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port, workers=1)
    try:
        _wait_healthy(base, proc)
        auth = {"Authorization": f"Bearer {_token(data_dir, 'ada@example.com')}"}
        version = httpx.get(f"{base}/v1/policies/current", timeout=5).json()["version"]
        onboarded = httpx.post(
            f"{base}/v1/me/onboarding",
            json={"age_confirmed": True, "accepted_policy_version": version},
            headers=auth,
            timeout=5,
        )
        assert onboarded.status_code == 200, onboarded.text
        body = {"task": "text_to_image", "prompt": "a lighthouse", "seed": 1}
        accepted = httpx.post(f"{base}/v1/jobs", json=body, headers=auth, timeout=10)
        assert accepted.status_code == 202, accepted.text
        job_url = f"{base}/v1/jobs/{accepted.json()['id']}"
        deadline = time.monotonic() + 300
        job = httpx.get(job_url, headers=auth, timeout=5).json()
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            job = httpx.get(job_url, headers=auth, timeout=5).json()
        assert job["status"] == "succeeded", job
        image = httpx.get(job["outputs"][0]["url"], timeout=10)
        assert image.status_code == 200
        assert image.headers["content-type"] == job["outputs"][0]["content_type"]
    finally:
        assert _stop(proc) == 0
