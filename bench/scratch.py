"""The scratch database every benchmark runs on, so none of them touches real data.

On `DATABASE_URL` when set (a database is created there, migrated, and dropped afterwards), else on an
embedded Postgres whose files live under the given folder and which is stopped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from shared.kit.db import migrate
from shared.kit.db.embedded import embedded_database_url, stop_embedded


def server_label() -> str:
    """Which Postgres the figures come from, for the first line a benchmark prints."""
    return "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"


@contextmanager
def scratch_database(prefix: str, data_dir: Path) -> Iterator[str]:
    """A new, migrated database named `{prefix}_{random}`: its URL, dropped (with any open sessions) after."""
    server = os.environ.get("DATABASE_URL") or embedded_database_url(data_dir)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"create database {name}")
        url = make_conninfo(server, dbname=name)
        migrate(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"drop database if exists {name} with (force)")
        if not os.environ.get("DATABASE_URL"):
            stop_embedded()
