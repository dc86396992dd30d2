"""Concurrency claims proven with real threads, each on its own connection to the real Postgres."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import psycopg
import pytest

from shared.credits import service as credits
from shared.credits.models import Grant, Hold
from shared.kit.db import Database
from shared.kit.db.database import Connection, connect_kwargs
from shared.kit.errors import AtelierError, HoldAlreadyResolved, InsufficientCredits
from tests.support.accounts import make_account
from tests.support.threads import run_together

T = TypeVar("T")


def _race(database_url: str, workers: list[Callable[[Connection], T]]) -> list[T | AtelierError]:
    """Run each worker in its own thread and transaction, all released at once; a domain error is its result,
    anything else (a deadlock, a constraint error) fails the test."""
    connections: list[Connection] = [psycopg.connect(database_url, **connect_kwargs()) for _ in workers]

    def in_transaction(conn: Connection, worker: Callable[[Connection], T]) -> Callable[[], T | AtelierError]:
        def run() -> T | AtelierError:
            try:
                with conn.transaction():
                    return worker(conn)
            except AtelierError as exc:
                return exc

        return run

    try:
        results = run_together(*(in_transaction(c, w) for c, w in zip(connections, workers, strict=True)), timeout=60)
    finally:
        for conn in connections:
            conn.close()
    assert all(result is not None for result in results)
    return results


def _outcomes(results: list[object]) -> Counter[str]:
    return Counter(type(result).__name__ for result in results)


@pytest.mark.slow
def test_64_concurrent_reserves_on_a_balance_of_10(db: Database, database_url: str) -> None:
    user = make_account(db)
    with db.transaction() as conn:
        credits.grant(conn, user_id=user, amount=10, kind="purchase", source_ref="order_1", expires_at=None)

    def reserve_one(index: int) -> Callable[[Connection], object]:
        return lambda conn: credits.reserve(conn, user_id=user, amount=1, ref=f"job_{index}")

    results = _race(database_url, [reserve_one(i) for i in range(64)])
    assert _outcomes(results) == {"Hold": 10, "InsufficientCredits": 54}
    assert all(r.code == "insufficient_credits" for r in results if isinstance(r, InsufficientCredits))
    with db.transaction() as conn:
        balance = credits.balance(conn, user)
        holds = conn.execute("select count(*) as n from credit_holds where status = 'pending'").fetchone()
    assert (balance.available, balance.pending) == (0, 10)
    assert holds == {"n": 10}


def test_reserves_spread_over_several_grants_never_overdraw(db: Database, database_url: str) -> None:
    user = make_account(db)
    with db.transaction() as conn:
        for i, amount in enumerate((3, 4, 5)):
            credits.grant(conn, user_id=user, amount=amount, kind="purchase", source_ref=f"o{i}", expires_at=None)

    def reserve(index: int) -> Callable[[Connection], object]:
        return lambda conn: credits.reserve(conn, user_id=user, amount=1 + index % 3, ref=f"job_{index}")

    results = _race(database_url, [reserve(i) for i in range(24)])
    held = sum(r.amount for r in results if isinstance(r, Hold))
    with db.transaction() as conn:
        balance = credits.balance(conn, user)
        states = conn.execute("select remaining from credit_grant_state").fetchall()
    assert balance.pending == held
    assert balance.available == 12 - held
    assert all(state["remaining"] >= 0 for state in states)
    # Available credit only shrinks here, so every refusal proves the final balance is below its size.
    refused = [1 + i % 3 for i, r in enumerate(results) if isinstance(r, InsufficientCredits)]
    assert refused
    assert balance.available < min(refused)


def test_concurrent_post_and_void_of_one_hold_resolve_it_once(db: Database, database_url: str) -> None:
    user = make_account(db)
    with db.transaction() as conn:
        credits.grant(conn, user_id=user, amount=10, kind="purchase", source_ref="order_1", expires_at=None)
        hold = credits.reserve(conn, user_id=user, amount=4, ref="job_1")
    workers: list[Callable[[Connection], object]] = []
    for i in range(16):
        if i % 2:
            workers.append(lambda conn: credits.post(conn, hold.id, 3))
        else:
            workers.append(lambda conn: credits.void(conn, hold.id))
    results = _race(database_url, workers)
    winners = [r for r in results if isinstance(r, Hold)]
    assert len(winners) == 1
    assert sum(isinstance(r, HoldAlreadyResolved) for r in results) == 15
    with db.transaction() as conn:
        balance = credits.balance(conn, user)
        entries = conn.execute("select type from credit_ledger where hold_id = %s", (hold.id,)).fetchall()
    expected = 7 if winners[0].status == "posted" else 10
    assert (balance.available, balance.pending) == (expected, 0)
    assert len(entries) == (3 if winners[0].status == "posted" else 2)  # hold + post + release | hold + void


def test_replayed_grants_and_revocations_at_once_count_once(db: Database, database_url: str) -> None:
    user = make_account(db)
    grant_workers: list[Callable[[Connection], object]] = [
        lambda conn: credits.grant(
            conn, user_id=user, amount=25, kind="purchase", source_ref="order_dup", expires_at=None
        )
        for _ in range(12)
    ]
    granted = _race(database_url, grant_workers)
    assert len({g.id for g in granted if isinstance(g, Grant)}) == 1
    with db.transaction() as conn:
        assert credits.balance(conn, user).available == 25
        hold = credits.reserve(conn, user_id=user, amount=5, ref="job_1")
    revoke_workers: list[Callable[[Connection], object]] = [
        lambda conn: credits.revoke(conn, grant_source_ref="order_dup", revocation_ref="refund_dup") for _ in range(12)
    ]
    assert set(_race(database_url, revoke_workers)) == {20}
    with db.transaction() as conn:
        credits.void(conn, hold.id)
        balance = credits.balance(conn, user)
        revocations = conn.execute("select count(*) as n from credit_revocations").fetchone()
    assert (balance.available, balance.pending) == (0, 0)
    assert revocations == {"n": 1}


def test_the_sweeper_running_twice_at_once_voids_each_hold_once(db: Database, database_url: str) -> None:
    users = [make_account(db) for _ in range(4)]
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    with db.transaction() as conn:
        for n, user in enumerate(users):
            credits.grant(conn, user_id=user, amount=10, kind="purchase", source_ref=f"o{n}", expires_at=None, now=t0)
            for j in range(5):
                credits.reserve(conn, user_id=user, amount=1, ref=f"job_{n}_{j}", ttl=timedelta(minutes=1), now=t0)
    later = t0 + timedelta(minutes=2)
    results = _race(database_url, [lambda conn: credits.expire_holds(conn, now=later) for _ in range(4)])
    assert sum(r for r in results if isinstance(r, int)) == 20
    with db.transaction() as conn:
        for user in users:
            balance = credits.balance(conn, user, now=later)
            assert (balance.available, balance.pending) == (10, 0)
        voids = conn.execute("select count(*) as n from credit_ledger where type = 'void'").fetchone()
    assert voids == {"n": 20}
