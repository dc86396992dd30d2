"""Connection pool and the transaction helper every edge uses."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from config.settings import Settings
from config.values import value
from shared.kit.db.embedded import embedded_database_url
from shared.kit.errors import Busy

Connection = psycopg.Connection[dict[str, Any]]
BUSY_RETRY_AFTER = 2  # seconds a refused request is told to wait

# A SQL expression that makes the rest of its transaction commit without waiting for the WAL to reach the disk
# (`synchronous_commit` off, local to the transaction like SET LOCAL; the connection keeps its own setting). Folded
# into a statement the transaction sends anyway, it costs no round trip. Only for writes a database crash may lose
# (its last ~0.6 s, three `wal_writer_delay`s) without harm: Postgres never leaves the log half-written, and each
# user says why its writes may be lost (rate-limit admissions, a security log row, a dispatch mark, retention batches).
COMMIT_WITHOUT_FLUSH = "set_config('synchronous_commit', 'off', true)"


@value
class Statement:
    """One SQL statement and its parameters (`%(name)s` placeholders), to be sent with others (`execute_together`)."""

    sql: str
    params: Mapping[str, object] = field(default_factory=dict)


class Together(bytes):
    """Statements with their values bound, joined into one query string, encoded as the connection's; `statements`
    keeps each one (a recording connection, bench/scale.py, explains them one by one). Bytes, which psycopg sends
    as they are: a `sql.Composed` of the same text was built and converted again on every call (~20 µs)."""

    statements: list[str]

    def __new__(cls, statements: list[str], encoding: str = "utf-8") -> Together:
        together = super().__new__(cls, ";\n".join(statements).encode(encoding))
        together.statements = statements
        return together


def execute_together(conn: Connection, statements: Sequence[Statement]) -> list[list[dict[str, Any]]]:
    """Send `statements` as one query string (one round trip) and return each one's rows, in order (none for a
    statement that answers no rows, such as SAVEPOINT).

    Postgres runs the statements of one query message in turn, each with its own snapshot. On an autocommit
    connection they are one implicit transaction: committed together after the last, and when one fails none of
    them is kept and none after it runs. Inside the caller's transaction they join it (a failure aborts it). The
    parameters are bound here, on the client (psycopg's `ClientCursor` quoting, the statements' own `::type`
    casts), since the protocol that binds them on the server takes one statement per message; nothing is
    prepared, as everywhere (Supabase's transaction pooler)."""
    binder = psycopg.ClientCursor(conn)
    query = Together([binder.mogrify(statement.sql, statement.params) for statement in statements], conn.info.encoding)
    cursor = conn.execute(query)  # no parameters: the simple query protocol, which takes several statements
    return [result.fetchall() if _answers_rows(result.pgresult) else [] for result in cursor.results()]


def _answers_rows(result: psycopg.pq.abc.PGresult | None) -> bool:
    """What `cursor.description is not None` says (the statement answers rows, maybe none), without building the
    description's Column objects (~30 µs for a job's row, which the row factory reads the names of anyway)."""
    return result is not None and bool(result.nfields or result.status == psycopg.pq.ExecStatus.TUPLES_OK)


def connect_kwargs() -> dict[str, Any]:
    """Options every connection gets. Prepared statements stay off so Supabase's transaction pooler works."""
    return {"prepare_threshold": None, "row_factory": dict_row}


class Database:
    """A pool of connections to one Postgres. Services take a connection and never commit; the edge does."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        acquire_timeout: float = 30.0,
        connection_class: type[Connection] | None = None,
    ) -> None:
        self.url = url
        self.acquire_timeout = acquire_timeout  # then Busy (503 `busy`): a full pool is answered, never waited on
        self._in_use = 0  # connections handed out by `connection()`: tells a busy pool from an unreachable database
        self._count_lock = threading.Lock()
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs=connect_kwargs(),
            open=False,
            # A subclass that counts its round trips (bench/api.py); psycopg's own class otherwise.
            connection_class=connection_class or psycopg.Connection,
            name="atelier",
        )

    def open(self) -> Database:
        self.pool.open(wait=True, timeout=30)
        return self

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Connection]:
        """A pooled connection for one transaction (committed when the block ends, rolled back if it raises).

        Waits at most `timeout` (default `acquire_timeout`) for one. When every connection is in use that is Busy
        (503 `busy` with Retry-After: answered, never waited on); when none could be opened at all the pool's
        PoolTimeout passes up (the database is unreachable, not busy)."""
        with ExitStack() as stack:
            try:
                conn = stack.enter_context(self.pool.connection(timeout=timeout or self.acquire_timeout))
            except PoolTimeout as exc:
                with self._count_lock:
                    saturated = self._in_use >= self.pool.max_size
                if saturated:
                    raise Busy("The service is busy; try again in a moment.", retry_after=BUSY_RETRY_AFTER) from exc
                raise
            with self._count_lock:
                self._in_use += 1
            try:
                yield conn
            finally:
                with self._count_lock:
                    self._in_use -= 1

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises (see `connection`)."""
        with self.connection() as conn:
            yield conn

    @contextmanager
    def autocommit(self, timeout: float | None = None) -> Iterator[Connection]:
        """A pooled connection on which every statement is its own transaction, committed as it returns.

        For work that is one statement (a rate-limit check, marking a job dispatched): one round trip, where
        `transaction()` pays three (psycopg's BEGIN, the statement, COMMIT). Never for several statements that
        must hold together, each sent alone: each commits on its own (sent as one query string, `execute_together`,
        they are one implicit transaction). Waits and fails as `connection` does."""
        with self.connection(timeout) as conn:
            conn.autocommit = True
            try:
                yield conn
            finally:
                if not conn.closed:
                    conn.autocommit = False  # the pool hands it out again, to `transaction()` users

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


def open_database(settings: Settings, *, max_size: int | None = None) -> Database:
    """The pool of this process: ATELIER_DB_POOL_MAX connections, or `max_size` for the functions whose share of the
    connection budget is fixed (config/connections.py)."""
    return Database(
        database_url(settings),
        min_size=min(settings.db_pool_min, max_size or settings.db_pool_max),
        max_size=max_size or settings.db_pool_max,
        acquire_timeout=settings.db_acquire_timeout_seconds,
    ).open()
