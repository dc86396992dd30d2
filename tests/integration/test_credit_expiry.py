"""expire-holds and expire-credits: time-travelled, idempotent, and once each under concurrent runs."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from shared.credits import service as credits
from shared.credits.expiry import expire_credits, run_expire_holds
from shared.kit.db import Database
from tests.support.accounts import make_account

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PERIOD_END = T0 + timedelta(days=30)


def _grant(db: Database, user_id: uuid.UUID, amount: int, ref: str, expires_at: datetime | None) -> None:
    with db.transaction() as conn:
        credits.grant(
            conn, user_id=user_id, amount=amount, kind="subscription", source_ref=ref, expires_at=expires_at, now=T0
        )


def _reserve(db: Database, user_id: uuid.UUID, amount: int, ref: str, *, at: datetime = T0) -> uuid.UUID:
    with db.transaction() as conn:
        return credits.reserve(conn, user_id=user_id, amount=amount, ref=ref, ttl=timedelta(hours=1), now=at).id


def _entries(db: Database, user_id: uuid.UUID, kind: str) -> list[tuple[int, str | None, datetime]]:
    with db.transaction() as conn:
        rows = conn.execute(
            "select amount, ref, created_at from credit_ledger where user_id = %s and type = %s order by ref",
            (user_id, kind),
        ).fetchall()
    return [(row["amount"], row["ref"], row["created_at"]) for row in rows]


def _available(db: Database, user_id: uuid.UUID, now: datetime) -> int:
    with db.transaction() as conn:
        return credits.balance(conn, user_id, now=now).available


def test_subscription_credits_expire_at_period_end_and_the_ledger_says_so(db: Database) -> None:
    user_id = make_account(db)
    _grant(db, user_id, 100, "sub:period-1", PERIOD_END)
    _grant(db, user_id, 5, "pack:1", None)  # never expires
    hold = _reserve(db, user_id, 30, "job-1")
    with db.transaction() as conn:
        credits.post(conn, hold, 30, now=T0)

    assert expire_credits(db, PERIOD_END - timedelta(days=1)) == 0
    assert _entries(db, user_id, "expire") == []

    assert expire_credits(db, PERIOD_END + timedelta(days=1)) == 1
    assert _entries(db, user_id, "expire") == [(70, "sub:period-1", PERIOD_END)]
    assert _available(db, user_id, PERIOD_END + timedelta(days=1)) == 5  # the balance never counted them
    with db.transaction() as conn:
        state = conn.execute("select remaining, spent, expired from credit_grant_state where amount = 100").fetchone()
    assert state == {"remaining": 0, "spent": 30, "expired": 70}

    assert expire_credits(db, PERIOD_END + timedelta(days=2)) == 0  # idempotent
    assert len(_entries(db, user_id, "expire")) == 1


def test_a_grant_under_a_pending_hold_expires_after_the_hold_resolves(db: Database) -> None:
    user_id = make_account(db)
    _grant(db, user_id, 10, "sub:p", PERIOD_END)
    hold = _reserve(db, user_id, 4, "job-late", at=PERIOD_END - timedelta(minutes=5))
    later = PERIOD_END + timedelta(minutes=10)

    assert expire_credits(db, later) == 0  # the hold may still release credits to this grant
    assert run_expire_holds(db, later + timedelta(hours=1)) == 1
    with db.transaction() as conn:
        assert credits.get_hold(conn, hold).status == "voided"  # type: ignore[union-attr]
    assert expire_credits(db, later + timedelta(hours=1)) == 1
    assert _entries(db, user_id, "expire") == [(10, "sub:p", PERIOD_END)]


def test_a_grant_under_a_pending_hold_drawn_from_several_grants_waits_too(db: Database) -> None:
    user_id = make_account(db)
    _grant(db, user_id, 3, "sub:p", PERIOD_END)
    _grant(db, user_id, 10, "pack:1", None)
    hold = _reserve(db, user_id, 5, "job-late", at=PERIOD_END - timedelta(minutes=5))  # 3 + 2: allocation rows
    with db.transaction() as conn:
        assert conn.execute("select grant_id from credit_holds where id = %s", (hold,)).fetchone() == {"grant_id": None}
    later = PERIOD_END + timedelta(minutes=10)

    assert expire_credits(db, later) == 0
    assert run_expire_holds(db, later + timedelta(hours=1)) == 1
    assert expire_credits(db, later + timedelta(hours=1)) == 1
    assert _entries(db, user_id, "expire") == [(3, "sub:p", PERIOD_END)]


def test_fully_spent_grants_book_no_expiry(db: Database) -> None:
    user_id = make_account(db)
    _grant(db, user_id, 3, "sub:spent", PERIOD_END)
    with db.transaction() as conn:
        credits.post(conn, credits.reserve(conn, user_id=user_id, amount=3, ref="j", now=T0).id, now=T0)
    assert expire_credits(db, PERIOD_END + timedelta(days=1)) == 0


def test_a_second_expiry_entry_for_a_grant_is_unstorable(db: Database) -> None:
    user_id = make_account(db)
    _grant(db, user_id, 3, "sub:once", PERIOD_END)
    expire_credits(db, PERIOD_END + timedelta(days=1))
    with pytest.raises(psycopg.errors.UniqueViolation), db.transaction() as conn:
        conn.execute(
            """insert into credit_ledger (user_id, type, amount, grant_id)
               select user_id, 'expire', 1, grant_id from credit_grant_state"""
        )


def _twice(fn: object) -> list[int]:
    results: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(fn())  # type: ignore[operator]

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    return results


def test_two_concurrent_expiry_runs_book_each_grant_once(db: Database) -> None:
    users = [make_account(db) for _ in range(40)]
    for i, user_id in enumerate(users):
        for j in range(3):
            _grant(db, user_id, 5 + j, f"sub:{i}:{j}", PERIOD_END + timedelta(seconds=i))
    later = PERIOD_END + timedelta(days=1)
    results = _twice(lambda: expire_credits(db, later, batch=7))
    assert sum(results) == 120
    with db.transaction() as conn:
        row = conn.execute(
            "select count(*) as n, sum(amount) as total from credit_ledger where type = 'expire'"
        ).fetchone()
    assert row == {"n": 120, "total": 40 * (5 + 6 + 7)}


def test_two_concurrent_hold_expiry_runs_void_each_hold_once(db: Database) -> None:
    users = [make_account(db) for _ in range(20)]
    for i, user_id in enumerate(users):
        _grant(db, user_id, 10, f"pack:{i}", None)
        for j in range(3):
            _reserve(db, user_id, 2, f"job:{i}:{j}")
    results = _twice(lambda: run_expire_holds(db, T0 + timedelta(hours=2), batch=5))
    assert sum(results) == 60
    with db.transaction() as conn:
        row = conn.execute("select count(*) as n from credit_ledger where type = 'void'").fetchone()
    assert row == {"n": 60}
    assert all(_available(db, user_id, T0 + timedelta(hours=2)) == 10 for user_id in users)


def test_holds_are_left_alone_before_their_deadline(db: Database) -> None:
    user_id = make_account(db)
    _grant(db, user_id, 10, "pack", None)
    _reserve(db, user_id, 4, "job")
    assert run_expire_holds(db, T0 + timedelta(minutes=59)) == 0
    assert run_expire_holds(db, T0 + timedelta(minutes=61)) == 1
