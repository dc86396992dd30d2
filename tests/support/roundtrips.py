"""Counting what a request asks of Postgres: statements and round trips, per request, on a pool's connections.

`Database(url, connection_class=CountingConnection)` counts on every connection of its pool. A round trip is one
exchange with the server: a statement, the BEGIN psycopg sends before the first statement of a transaction (it
goes alone), and a COMMIT or ROLLBACK that has a transaction to end (psycopg sends nothing for one that has none).
A statement run with autocommit on is its own transaction: one round trip, no BEGIN, no COMMIT. Several statements
sent as one query string (`shared.kit.db.database.execute_together`) are one round trip and count as statements each.
Only `Connection.execute` is counted: the request path runs every statement through it (no cursors, no COPY).

Used by `bench/api.py` (the figures it prints) and by the test that pins them
(tests/integration/test_request_round_trips.py): counts are deterministic, times are not.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg.pq import TransactionStatus

from config.values import value


@value
class Counts:
    statements: int
    round_trips: int


class CountingConnection(psycopg.Connection[Any]):
    """Counts statements and round trips on every connection of a pool (class-wide counters)."""

    _lock = threading.Lock()
    statements = 0
    round_trips = 0

    @classmethod
    def _add(cls, statements: int, round_trips: int) -> None:
        with cls._lock:
            cls.statements += statements
            cls.round_trips += round_trips

    @classmethod
    def snapshot(cls) -> Counts:
        with cls._lock:
            return Counts(cls.statements, cls.round_trips)

    def _idle(self) -> bool:
        return self.info.transaction_status == TransactionStatus.IDLE

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        begins = 1 if self._idle() and not self.autocommit else 0  # psycopg sends BEGIN first, on its own
        CountingConnection._add(1, 1 + begins)
        cursor = super().execute(*args, **kwargs)
        # Several statements in one query string (`execute_together`): one round trip, each statement counted.
        more = sum(1 for _ in cursor.results()) - 1
        if more > 0:
            CountingConnection._add(more, 0)
            cursor.set_result(0)
        return cursor

    def commit(self) -> None:
        if not self._idle():
            CountingConnection._add(0, 1)
        super().commit()

    def rollback(self) -> None:
        if not self._idle():
            CountingConnection._add(0, 1)
        super().rollback()


def per_request(
    client: TestClient,
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    json: Any = None,
    requests: int = 10,
    expect: int = 200,
) -> tuple[float, float]:
    """(statements, round trips) per request of `requests` identical requests, each answering `expect`."""
    before = CountingConnection.snapshot()
    for _ in range(requests):
        response = client.request(method, path, headers=headers, json=json)
        assert response.status_code == expect, response.text
    after = CountingConnection.snapshot()
    return (
        (after.statements - before.statements) / requests,
        (after.round_trips - before.round_trips) / requests,
    )
