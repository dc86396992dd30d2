"""What the two hottest requests ask of Postgres, pinned: statements and round trips per request (counts, not time:
they are deterministic). A change that adds a query to the request path fails here; one that removes one updates
the numbers here and in docs/benchmarks.md ("API"), where bench/api.py prints the same counts next to its figures.

Where a POST /v1/jobs request's 2 round trips (3 statements) go: the account with its standing, the per-address
check, the security log row and the per-member check in one statement (1, autocommit: shared/lifecycle/entry.py; they
were the per-address limiter, the caller's BEGIN, its two statements and COMMIT, and the per-member limiter: 6 round
trips), the admission (1, autocommit: `job_admit`, which places the hold (taking the credit lock), reads the
Idempotency-Key's earlier job and the active-jobs count under it and inserts the job, and the analytics event
inserted where the guard allows it, two statements sent as one query string, one implicit transaction; it was BEGIN,
the hold, the insert, the guard, COMMIT: 5, and before that 9). The dispatch mark is written after the answer, with
the marks of the jobs admitted meanwhile: one statement a batch (shared/jobs/marks.py; a round trip per request
before; here only when flushed, so that its thread's writes do not fall into a count). A request with
an Idempotency-Key (the web app sends one) costs the same. GET /v1/me is that first statement (1): the answer is
built from the standing it read. A request the caller must write more for (a new account, the hourly refresh, a
device's consent link) or refuse takes the caller's full path, as before, after that statement (which then only read
the standing): one statement more than it cost before the fold.

The caller no longer upserts the account on every request (one statement less on both routes, issue 34): it reads
the account with its standing first and upserts only when the account is missing, its activity is due the hourly
refresh or its email changed (shared/lifecycle/signup.py `sign_in`); the tests below pin that path too.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from psycopg.pq import TransactionStatus

from config.settings import Settings
from functions.api.app import create_app
from shared.jobs.dispatcher import QueueOnly
from shared.kit.db import Database
from shared.lifecycle.signup import sign_in
from tests.support.people import onboard, person
from tests.support.roundtrips import CountingConnection, per_request
from tests.support.tokens import HS256_SECRET, bearer, hs256

JOB = {"task": "text_to_image", "prompt": "a lighthouse at dusk"}
REQUESTS = 10


@pytest.fixture
def counted(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        supabase_jwt_secret=HS256_SECRET,
        signup_credits=1_000_000,
        max_active_jobs=100,
        # Budgets that never refuse, so every request is the admitted path (the limiter still runs).
        rate_limit_overrides={
            "account.user": "1000/60",
            "account.ip": "1000/60",
            "jobs.user": "1000/60",
            "jobs.ip": "1000/60",
        },
    )
    db = Database(database_url, connection_class=CountingConnection).open()
    try:
        # The dispatch marks are written when flushed only (their thread would write them at random in a count).
        with TestClient(create_app(settings, db, dispatcher=QueueOnly(), mark_linger=None)) as client:
            yield client
    finally:
        db.close()


def test_get_me_costs_one_statement_in_one_round_trip(counted: TestClient) -> None:
    who = person()
    onboard(counted, who)
    per_request(counted, "GET", "/v1/me", headers=who.headers, requests=2)  # the account's first requests
    assert per_request(counted, "GET", "/v1/me", headers=who.headers, requests=REQUESTS) == (1, 1)


def _flush_marks(client: TestClient) -> tuple[int, int, int]:
    """(marks written, statements, round trips) of writing the dispatch marks the requests left."""
    before = CountingConnection.snapshot()
    written = client.app.state.dispatch_marks.flush()  # type: ignore[attr-defined]
    after = CountingConnection.snapshot()
    return written, after.statements - before.statements, after.round_trips - before.round_trips


def test_post_jobs_costs_three_statements_in_two_round_trips_and_its_dispatch_mark_a_share_of_one(
    counted: TestClient,
) -> None:
    who = person()
    onboard(counted, who)
    per_request(counted, "POST", "/v1/jobs", headers=who.headers, json=JOB, requests=2, expect=202)
    _flush_marks(counted)
    assert per_request(counted, "POST", "/v1/jobs", headers=who.headers, json=JOB, requests=REQUESTS, expect=202) == (
        3,
        2,
    )
    assert _flush_marks(counted) == (REQUESTS, 1, 1)  # the batch's marks: one statement, one round trip


def test_post_jobs_with_an_idempotency_key_and_analytics_consent_costs_the_same(counted: TestClient) -> None:
    """The web app's submissions: a fresh Idempotency-Key each, from a member who allowed analytics (the event is
    written by the guard's one statement). A replay of a key answers the earlier job (more statements, rare)."""
    who = person()
    onboard(counted, who)
    allowed = counted.put("/v1/me/preferences", headers=who.headers, json={"analytics": True})
    assert allowed.status_code == 200, allowed.text
    keys = iter(range(1_000))

    def keyed() -> dict[str, str]:
        return {**who.headers, "Idempotency-Key": f"submission-{next(keys)}"}

    per_request(counted, "POST", "/v1/jobs", headers=keyed(), json=JOB, requests=1, expect=202)
    counts = [per_request(counted, "POST", "/v1/jobs", headers=keyed(), json=JOB, requests=1, expect=202)]
    counts += [per_request(counted, "POST", "/v1/jobs", headers=keyed(), json=JOB, requests=1, expect=202)]
    assert counts == [(3, 2), (3, 2)]
    db: Database = counted.app.state.db  # type: ignore[attr-defined]
    with db.transaction() as conn:
        row = conn.execute(
            "select count(*) as n from analytics_events where user_id = (select user_id from jobs where idempotency_key"
            " = 'submission-0')"
        ).fetchone()
    assert row is not None and row["n"] == 3  # noqa: PT018 - one event per admitted job


def test_the_counter_counts_begin_and_commit(counted: TestClient) -> None:
    """The pins above can fail: a transaction of one statement is three round trips, autocommit one."""
    db: Database = counted.app.state.db  # type: ignore[attr-defined]
    before = CountingConnection.snapshot()
    with db.transaction() as conn:
        conn.execute("select 1")
    middle = CountingConnection.snapshot()
    with db.autocommit() as conn:
        conn.execute("select 1")
    after = CountingConnection.snapshot()
    assert (middle.statements - before.statements, middle.round_trips - before.round_trips) == (1, 3)
    assert (after.statements - middle.statements, after.round_trips - middle.round_trips) == (1, 1)


def test_the_account_is_upserted_only_when_due_its_hourly_refresh_or_its_email_changed(counted: TestClient) -> None:
    """The upsert comes back exactly when it has something to write, and writes it (the full path: the standing's
    read, the per-address check, BEGIN, the standing again, the upsert, the security log row, COMMIT, the
    per-account check)."""
    who = person()
    onboard(counted, who)
    db: Database = counted.app.state.db  # type: ignore[attr-defined]
    per_request(counted, "GET", "/v1/me", headers=who.headers, requests=2)
    with db.transaction() as conn:
        conn.execute("update accounts set last_active_at = now() - interval '2 hours' where id = %s", (who.id,))
    assert per_request(counted, "GET", "/v1/me", headers=who.headers, requests=1) == (6, 8)
    with db.transaction() as conn:
        row = conn.execute(
            "select now() - last_active_at < interval '1 minute' as fresh from accounts where id = %s", (who.id,)
        ).fetchone()
    assert row == {"fresh": True}
    assert per_request(counted, "GET", "/v1/me", headers=who.headers, requests=2) == (1, 1)

    renamed = bearer(hs256(user_id=who.id, email="renamed@example.com"))
    assert per_request(counted, "GET", "/v1/me", headers=renamed, requests=1) == (6, 8)
    assert counted.get("/v1/me", headers=renamed).json()["email"] == "renamed@example.com"
    assert per_request(counted, "GET", "/v1/me", headers=renamed, requests=2) == (1, 1)


def test_a_device_linked_already_costs_no_statement(counted: TestClient) -> None:
    """The web app names its device (X-Device-ID) on every request: its consent choice is linked to the account
    once (the caller's full path), and afterwards the standing's statement says there is nothing to link."""
    who = person()
    onboard(counted, who)
    device = f"dev-{uuid.uuid4().hex}"
    body = {"device_id": device, "categories": {"analytics": True, "marketing": False}, "notice_version": 1}
    assert counted.post("/v1/consents", json=body).status_code == 201  # an anonymous choice on that device
    headers = {**who.headers, "X-Device-ID": device}
    assert per_request(counted, "GET", "/v1/me", headers=headers, requests=1) == (6, 8)  # the link
    assert per_request(counted, "GET", "/v1/me", headers=headers, requests=REQUESTS) == (1, 1)
    db: Database = counted.app.state.db  # type: ignore[attr-defined]
    with db.transaction() as conn:
        links = conn.execute("select count(*) as n from consent_events where user_id = %s", (who.id,)).fetchone()
    assert links == {"n": 1}


class CommitSettings(CountingConnection):
    """Records `synchronous_commit` as each transaction's COMMIT finds it, and for a statement run with autocommit
    that writes, the setting its own `durability` column made (`set_config` answers the value it set; a
    statement that sets nothing commits durably: "on")."""

    found: ClassVar[list[str]] = []

    def commit(self) -> None:
        if self.info.transaction_status != TransactionStatus.IDLE:
            row = super().execute("select current_setting('synchronous_commit') as setting").fetchone()
            CommitSettings.found.append(row["setting"])
        super().commit()

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        cursor = super().execute(*args, **kwargs)
        query = str(args[0]).lower()
        writes = ("insert into", "atelier_rate_check", "request_entry(")  # request_entry: migration 0044
        if self.autocommit and any(word in query for word in writes):
            names = [column.name for column in cursor.description or []]
            if "durability" in names:
                CommitSettings.found.append(cursor.fetchone()["durability"])
                cursor.scroll(0, mode="absolute")  # the caller reads the row as if untouched
            else:
                CommitSettings.found.append("on")
        return cursor


def test_only_a_request_that_wrote_nothing_but_its_security_log_row_commits_lazily(
    database_url: str, tmp_path: Path
) -> None:
    """A new account's first request commits its signup credits durably; the requests after it write only their
    security log row (and the rate checks' admissions, in the same statement), which commits without waiting for its
    WAL flush (docs/operating.md)."""
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET)
    db = Database(database_url, connection_class=CommitSettings).open()
    try:
        # The dispatch marks are written when flushed only (their thread would write them at random in a count).
        with TestClient(create_app(settings, db, dispatcher=QueueOnly(), mark_linger=None)) as client:
            who = person()
            CommitSettings.found.clear()
            onboard(client, who)  # the account's first request: created, its signup credits granted
            # The address's check alone, then the caller's commit (the onboarding's own commits follow).
            assert CommitSettings.found[:2] == ["off", "on"]
            CommitSettings.found.clear()
            assert client.get("/v1/me", headers=who.headers).status_code == 200
            assert CommitSettings.found == ["off"]  # the checks' and the security log row's one statement
            with db.transaction() as conn:
                logged = conn.execute("select count(*) as n from security_log where user_id = %s", (who.id,))
                assert logged.fetchone() == {"n": 2}  # the onboarding, GET /v1/me
    finally:
        db.close()


def test_requests_of_one_account_do_not_wait_for_each_other(counted: TestClient) -> None:
    """The caller's transaction holds only a KEY SHARE lock on the account row (the one its security log row's foreign
    key takes anyway): another request of the same account goes through while it is open. The upsert it replaced
    locked the row even when it changed nothing, and the second request waited for the first one's commit."""
    who = person()
    onboard(counted, who)
    db: Database = counted.app.state.db  # type: ignore[attr-defined]
    app_state = counted.app.state  # type: ignore[attr-defined]
    principal = app_state.verifier.verify(who.headers["Authorization"].removeprefix("Bearer "))
    answered: list[int] = []
    with db.transaction() as conn:
        sign_in(conn, principal, settings=app_state.settings)  # a first request's caller, not committed yet
        second = threading.Thread(
            target=lambda: answered.append(counted.get("/v1/me", headers=who.headers).status_code)
        )
        second.start()
        second.join(timeout=15)
        waited = second.is_alive()
    second.join()
    assert not waited, "the second request waited for the first one's transaction"
    assert answered == [200]
