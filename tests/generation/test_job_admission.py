"""The admission in one statement (`job_admit`, migration 0042; issue 34): what it counts as active, that a refusal
keeps nothing it or the credit functions wrote, and `jobs.submit` inside a caller's own transaction.

The route's refusals, their order and the concurrency of one account's submissions are in test_studio_jobs.py and
test_jobs_http.py; the round trips in tests/integration/test_request_round_trips.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.credits import service as credits
from shared.jobs import service as jobs
from shared.jobs.models import ACTIVE, Admitted, JobParams, JobSpec, Replayed, TooManyActiveJobs
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.kit.errors import InsufficientCredits
from tests.generation import test_jobs_http as base
from tests.generation.test_jobs_http import Studio, _available, _member, _submit
from tests.support.people import Person

studio_factory = base.studio_factory

SPEC = JobSpec(task="text_to_image", model="flux-schnell", prompt="a cat", params=JobParams(width=1024, height=1024))


def _status(db: Database, who: Person, job_id: str, status: str) -> None:
    """Move a job as a worker would: claim it (running), or fail it (its credits go back)."""
    with db.transaction() as conn:
        if status == "running":
            assert jobs.claim(conn, uuid.UUID(job_id)) is not None
        else:
            job = jobs.get_owned(conn, who.id, uuid.UUID(job_id))
            assert jobs.fail(conn, job, code="test", message="ended by the test") is not None


def _submit_directly(
    conn: Connection, who: Person, fingerprint: str, *, cost: int, key: str | None = None, max_active: int | None = None
) -> Admitted:
    """`jobs.submit` of SPEC for `who`, as the route calls it, on the caller's connection."""
    return jobs.submit(
        conn,
        user_id=who.id,
        spec=SPEC,
        cost=cost,
        idempotency_key=key,
        fingerprint=fingerprint,
        deadline=timedelta(minutes=15),
        max_active=max_active,
    )


def test_the_statuses_counted_as_active_are_the_models_own() -> None:
    """job_admit writes them out (so its count uses the partial index jobs_user_active): they must stay equal."""
    assert ACTIVE == ("queued", "running")


def test_a_running_job_counts_as_active_and_a_finished_one_does_not(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0, max_active_jobs=1)
    who = _member(studio)
    first = _submit(studio, who, {"task": "text_to_image", "prompt": "one"})
    assert first.status_code == 202, first.text
    _status(studio.db, who, first.json()["id"], "running")
    refused = _submit(studio, who, {"task": "text_to_image", "prompt": "two"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "too_many_active_jobs")
    _status(studio.db, who, first.json()["id"], "failed")
    assert _submit(studio, who, {"task": "text_to_image", "prompt": "three"}).status_code == 202


def _overdue_hold(studio: Studio, who: Person, amount: int) -> uuid.UUID:
    """A pending hold whose deadline passed an hour ago (the scheduler has not voided it yet)."""
    with studio.db.transaction() as conn:
        hold = credits.reserve(
            conn,
            user_id=who.id,
            amount=amount,
            ref=f"test-{uuid.uuid4()}",
            ttl=timedelta(minutes=1),
            now=datetime.now(UTC) - timedelta(hours=1),
        )
    return hold.id


def test_a_refused_admission_keeps_nothing_the_ledger_wrote_for_it(studio_factory: Any) -> None:
    """credit_reserve voids the user's overdue holds before it answers `insufficient`; job_admit's refusal undoes
    that with the rest, as the transaction that refused used to: the hold stays pending for the scheduler."""
    studio: Studio = studio_factory(workers=0, signup_credits=3)
    who = _member(studio)
    overdue = _overdue_hold(studio, who, 2)
    assert _available(studio, who) == 1
    refused = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat", "count": 4})
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "insufficient_credits")
    with studio.db.transaction() as conn:
        hold = credits.get_hold(conn, overdue)
        ledger = conn.execute("select count(*) as n from credit_ledger where user_id = %s", (who.id,)).fetchone()
        rows = conn.execute("select count(*) as n from jobs where user_id = %s", (who.id,)).fetchone()
    assert hold is not None and hold.status == "pending"  # noqa: PT018
    assert ledger == {"n": 2}  # the signup grant and the overdue hold: no void, no hold of the refused job
    assert rows == {"n": 0}

    # The same voiding is kept when the job is admitted with the credits it freed.
    admitted = _submit(studio, who, {"task": "text_to_image", "prompt": "a cat", "count": 3})
    assert admitted.status_code == 202, admitted.text
    with studio.db.transaction() as conn:
        again = credits.get_hold(conn, overdue)
    assert again is not None and again.status == "voided"  # noqa: PT018
    assert _available(studio, who) == 0


def test_submit_in_the_callers_transaction_leaves_it_usable_after_a_refusal(studio_factory: Any) -> None:
    """Inside a transaction the admission runs under a savepoint: a replay answers the earlier job, a refusal
    raises, and the transaction goes on to commit what the caller did besides."""
    studio: Studio = studio_factory(workers=0, max_active_jobs=1)
    who = _member(studio)
    with studio.db.transaction() as conn:
        job = _submit_directly(conn, who, "f", cost=1, key="k", max_active=1)
        with pytest.raises(Replayed) as replay:
            _submit_directly(conn, who, "f", cost=1, key="k", max_active=1)
        assert replay.value.job.id == job.id
        with pytest.raises(TooManyActiveJobs):
            _submit_directly(conn, who, "g", cost=1, max_active=1)
        with pytest.raises(InsufficientCredits):
            _submit_directly(conn, who, "h", cost=10**9)
        row = conn.execute("select count(*) as n from jobs where user_id = %s", (who.id,)).fetchone()
        assert row == {"n": 1}
    with studio.db.transaction() as conn:
        committed = conn.execute("select id, hold_id from jobs where user_id = %s", (who.id,)).fetchall()
        holds = conn.execute("select count(*) as n from credit_holds where user_id = %s", (who.id,)).fetchone()
    assert [(r["id"], r["hold_id"] is not None) for r in committed] == [(job.id, True)]
    assert holds == {"n": 1}


def test_a_free_job_is_admitted_under_the_lock_and_holds_nothing(studio_factory: Any) -> None:
    studio: Studio = studio_factory(workers=0, signup_credits=0)
    who = _member(studio)
    with studio.db.autocommit() as conn:
        job = _submit_directly(conn, who, "f", cost=0, max_active=1)
        with pytest.raises(TooManyActiveJobs):
            _submit_directly(conn, who, "g", cost=0, max_active=1)
        locked = conn.execute("select count(*) as n from credit_accounts where user_id = %s", (who.id,)).fetchone()
    assert job.hold_id is None
    assert locked == {"n": 1}  # credit_lock made the account's credit row on its first use


def test_a_prompt_with_quotes_percent_signs_and_backslashes_is_stored_as_sent(studio_factory: Any) -> None:
    """The admission's parameters are bound on the client (one query string, several statements): what a person
    types reaches the row unchanged, placeholders and quoting characters included."""
    studio: Studio = studio_factory(workers=0)
    who = _member(studio)
    prompt = "it's 100% \"cat\"; %s %(id)s \\' \\\\ ‐ 猫 $$ $q$ -- /* */"
    response = _submit(studio, who, {"task": "text_to_image", "prompt": prompt}, **{"Idempotency-Key": "it's 100%"})
    assert response.status_code == 202, response.text
    with studio.db.transaction() as conn:
        row = conn.execute(
            "select prompt, idempotency_key from jobs where id = %s", (response.json()["id"],)
        ).fetchone()
    assert row == {"prompt": prompt, "idempotency_key": "it's 100%"}
    replay = _submit(studio, who, {"task": "text_to_image", "prompt": prompt}, **{"Idempotency-Key": "it's 100%"})
    assert replay.json()["id"] == response.json()["id"]


def test_a_job_whose_hold_the_sweeper_voided_first_still_finishes(studio_factory: Any) -> None:
    """After an outage of the scheduler, `expire-holds` may void a job's hold (deadline + 5 minutes) before the
    reconciler fails the job, and a worker may finish a job whose hold has expired: the job still ends, its
    credits are back once (the void gave them back), and nothing is charged for a hold that is gone."""
    from shared.jobs.reconcile import reconcile

    studio: Studio = studio_factory(workers=0, job_deadline_seconds=60, max_active_jobs=5)
    who = _member(studio)
    before = _available(studio, who)
    failed = _submit(studio, who, {"task": "text_to_image", "prompt": "left queued"}).json()["id"]
    done = _submit(studio, who, {"task": "text_to_image", "prompt": "rendered late"}).json()["id"]
    _status(studio.db, who, done, "running")
    later = datetime.now(UTC) + timedelta(minutes=10)
    with studio.db.transaction() as conn:
        assert credits.expire_holds(conn, now=later) == 2
    assert _available(studio, who) == before
    with studio.db.transaction() as conn:
        running = jobs.get_owned(conn, who.id, uuid.UUID(done))
        assert jobs.succeed(conn, running, delivered=1, seed=1, prompt_text=None) is not None
    assert reconcile(studio.db, base.Recording(), now=later) == 1  # what the scheduler runs every minute
    with studio.db.transaction() as conn:
        assert jobs.get_owned(conn, who.id, uuid.UUID(failed)).status == "failed"
        assert jobs.get_owned(conn, who.id, uuid.UUID(done)).status == "succeeded"
    assert _available(studio, who) == before
