"""`deploy.py local` stops its embedded Postgres however it is told to stop: SIGTERM (a process manager, `kill`)
as well as SIGINT (Ctrl-C). uvicorn re-raises SIGTERM after its graceful shutdown, which used to kill the process
before its clean-up ran and left Postgres running."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.test_local_stack import _free_port, _start, _wait_healthy


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_stack_and_its_embedded_postgres(tmp_path: Path, signum: signal.Signals) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    proc = _start(data_dir, port)
    postmaster = 0
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        assert _alive(postmaster)
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while _alive(postmaster) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(postmaster), f"Postgres {postmaster} still runs after {signum.name}"
        assert not (data_dir / "pg" / "postmaster.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        if postmaster and _alive(postmaster):  # what the old behaviour left behind: do not leak it
            os.kill(postmaster, signal.SIGTERM)
