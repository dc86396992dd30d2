"""What the two hottest requests ask of Postgres, pinned: statements and round trips per request (counts, not time:
they are deterministic). A change that adds a query to the request path fails here; one that removes one updates
the numbers here and in docs/benchmarks.md ("API"), where bench/api.py prints the same counts next to its figures.

Where a POST /v1/jobs request's 13 round trips go: the per-address limiter (1, autocommit), the caller (BEGIN, the
account's upsert, the account with its standing, the security log row, COMMIT: 5), the per-member limiter (1), the
admission (BEGIN, the hold (it takes the credit lock), the job's insert carrying the hold's id with the
Idempotency-Key's lookup and the active-jobs count in the same statement, the analytics event inserted where the guard
allows it, COMMIT: 5; it was 9: a lock, the count, the insert, the hold, the hold's id on the job and the guard's two
reads each went alone) and the dispatch mark (1, autocommit). A request with an Idempotency-Key (the web app sends one)
costs the same. GET /v1/me is the two limiters and the caller (7): the answer is
built from the standing the caller read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from shared.jobs.dispatcher import QueueOnly
from shared.kit.db import Database
from tests.support.people import onboard, person
from tests.support.roundtrips import CountingConnection, per_request
from tests.support.tokens import HS256_SECRET

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
        with TestClient(create_app(settings, db, dispatcher=QueueOnly())) as client:
            yield client
    finally:
        db.close()


def test_get_me_costs_five_statements_in_seven_round_trips(counted: TestClient) -> None:
    who = person()
    onboard(counted, who)
    per_request(counted, "GET", "/v1/me", headers=who.headers, requests=2)  # the account's first requests
    assert per_request(counted, "GET", "/v1/me", headers=who.headers, requests=REQUESTS) == (5, 7)


def test_post_jobs_costs_nine_statements_in_thirteen_round_trips(counted: TestClient) -> None:
    who = person()
    onboard(counted, who)
    per_request(counted, "POST", "/v1/jobs", headers=who.headers, json=JOB, requests=2, expect=202)
    assert per_request(counted, "POST", "/v1/jobs", headers=who.headers, json=JOB, requests=REQUESTS, expect=202) == (
        9,
        13,
    )


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
    assert counts == [(9, 13), (9, 13)]
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
