"""Connection pool and the transaction helper every edge uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from config.settings import Settings
from shared.kit.db.embedded import embedded_database_url

Connection = psycopg.Connection[dict[str, Any]]


def connect_kwargs() -> dict[str, Any]:
    """Options every connection gets. Prepared statements stay off so Supabase's transaction pooler works."""
    return {"prepare_threshold": None, "row_factory": dict_row}


class Database:
    """A pool of connections to one Postgres. Services take a connection and never commit; the edge does."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs=connect_kwargs(),
            open=False,
            name="atelier",
        )

    def open(self) -> Database:
        self.pool.open(wait=True, timeout=30)
        return self

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.pool.connection() as conn:
            yield conn

    def ping(self, timeout: float = 2.0) -> bool:
        try:
            with self.pool.connection(timeout=timeout) as conn:
                conn.execute("select 1")
            return True
        except (psycopg.Error, TimeoutError, OSError):
            return False


def database_url(settings: Settings) -> str:
    """`DATABASE_URL` when set; otherwise the embedded Postgres under the data directory."""
    if settings.database_url:
        return settings.database_url
    return embedded_database_url(settings.data_dir)


def open_database(settings: Settings) -> Database:
    return Database(database_url(settings), min_size=settings.db_pool_min, max_size=settings.db_pool_max).open()
