"""Job rules: submit (the hold, the admission's checks and the insert in one statement), cancel, and the worker's
transitions.

Each transition and its ledger effect are written in the same transaction: success posts the hold,
failure, cancel and timeout void it. A finished job never changes (a database trigger refuses it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn
from uuid import UUID

import psycopg

from shared.credits import service as credits
from shared.jobs import repo
from shared.jobs.models import (
    Admitted,
    IdempotencyKeyReused,
    Job,
    JobFinished,
    JobNotFound,
    JobRequest,
    JobSpec,
    Replayed,
    TooManyActiveJobs,
    Withheld,
)
from shared.kit.db.database import Connection, Statement, execute_together
from shared.kit.errors import Conflict, HoldAlreadyResolved, InsufficientCredits
from shared.kit.pagination import Cursor, Page, page_of

log = logging.getLogger("atelier.jobs")


def request_fingerprint(body: dict[str, Any] | JobRequest) -> str:
    """Same Idempotency-Key + same body → same job; the body (a request's `body()`) is compared by this hash."""
    data = body.body() if isinstance(body, JobRequest) else body
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def submit(
    conn: Connection,
    *,
    user_id: UUID,
    spec: JobSpec,
    cost: int,
    idempotency_key: str | None,
    fingerprint: str,
    deadline: timedelta,
    max_active: int | None = None,
    along: Sequence[Statement] = (),
) -> Admitted:
    """Hold a priced job's credits and queue it: one statement (`job_admit`, migration 0042), sent with `along`
    (statements to run only when the job is admitted, e.g. the analytics guard's insert) in one round trip.

    The hold comes first: placing it takes the user's credit-account lock (the lock every credit movement takes
    first), so one account's submissions run one at a time, and the key's lookup and the count of the jobs queued
    or running, read after it, see every admission committed before. A refusal raises and keeps nothing: a replay
    of the key raises `Replayed` (the caller answers with the earlier job), the key with another body 409
    `idempotency_key_reused`, more than `max_active` 429 `too_many_active_jobs`, too few credits 402; in that
    order, whichever applies first. A free job takes the lock on its own.

    On an autocommit connection (`Database.autocommit()`, the API) the statements are their own transaction,
    committed together. Inside the caller's transaction they run under a savepoint, so a refusal leaves that
    transaction usable (the caller decides what becomes of it)."""
    admit = repo.admit_statement(
        job_id=uuid.uuid4(),
        user_id=user_id,
        spec=spec,
        cost=cost,
        idempotency_key=idempotency_key,
        request_sha256=fingerprint,
        deadline=deadline,
        hold_ttl=deadline + timedelta(minutes=5),
        max_active=max_active,
    )
    own = conn.autocommit
    statements = [admit, *along] if own else [_SAVEPOINT, admit, *along, _RELEASE]
    try:
        results = execute_together(conn, statements)
    except psycopg.Error as error:
        refused = repo.refusal(error)
        if refused is None:
            raise
        if not own:
            conn.execute(_ROLLBACK.sql)
        _refuse(conn, *refused, cost=cost)
    return repo.admitted(results[0 if own else 1])


_SAVEPOINT = Statement("savepoint job_admission")
_RELEASE = Statement("release savepoint job_admission")
_ROLLBACK = Statement("rollback to savepoint job_admission")


def _refuse(conn: Connection, reason: str, value: str | None, *, cost: int) -> NoReturn:
    """Raise the error of `job_admit`'s refusal (its MESSAGE, and DETAIL as `value`)."""
    if reason == "replayed" and value is not None:
        found = repo.get(conn, UUID(value))
        if found is not None:  # committed before the refused request took the lock; jobs go only with an erasure
            raise Replayed(found)
    if reason == "too_many_active_jobs" and value is not None:
        max_active = int(value)
        raise TooManyActiveJobs(
            f"You have {max_active} jobs queued or running, the most an account may; wait for one to finish.",
            details={"max_active_jobs": max_active},
        )
    if reason == "no_account":
        raise InsufficientCredits("This account has no credits.")
    if reason == "insufficient":
        raise InsufficientCredits(f"{cost} credits are needed; fewer are available.")
    if reason == "ref_conflict":
        raise Conflict("This hold reference is already used.", code="hold_ref_conflict")
    if reason == "idempotency_key_reused":
        raise IdempotencyKeyReused()
    # The key's row is another transaction's, not committed (or its job went with an erasure meanwhile).
    raise IdempotencyKeyReused("The earlier request with this key is still being processed; retry.")


def recent_prompts(conn: Connection, user_id: UUID, limit: int) -> list[tuple[str, datetime]]:
    """The user's own distinct prompts with when each was last used, newest first."""
    return repo.recent_prompts(conn, user_id, limit)


def get_owned(conn: Connection, user_id: UUID, job_id: UUID) -> Job:
    job = repo.get(conn, job_id, user_id=user_id)
    if job is None:
        raise JobNotFound()
    return job


def list_jobs(
    conn: Connection,
    user_id: UUID,
    *,
    cursor: str | None,
    limit: int,
    statuses: list[str] | None = None,
    task: str | None = None,
) -> Page[Job]:
    rows = repo.list_for_user(
        conn, user_id, cursor=Cursor.decode(cursor), limit=limit + 1, statuses=statuses, task=task
    )
    return page_of(rows, limit, key=lambda job: Cursor(job.created_at, job.id))


def cancel(conn: Connection, user_id: UUID, job_id: UUID) -> Job:
    """Queued → canceled now, credits returned; running → cancel requested, the worker stops between steps."""
    job = repo.get(conn, job_id, user_id=user_id, for_update=True)
    if job is None:
        raise JobNotFound()
    if job.finished:
        raise JobFinished()
    repo.request_cancel(conn, job_id)  # recorded either way: the answer says `cancel_requested: true`
    if job.status == "queued":
        finished = _finish(conn, job, status="canceled", from_statuses=("queued",))
        return finished or job
    again = repo.get(conn, job_id)
    assert again is not None  # noqa: S101 - locked above
    return again


def cancel_all_for_account(conn: Connection, user_id: UUID, now: datetime) -> None:
    """Erasure requested: queued jobs are canceled now (credits returned), running ones are asked to stop."""
    for job_id in repo.unfinished_of(conn, user_id):
        job = repo.get(conn, job_id, for_update=True)
        if job is None or job.finished:
            continue
        if job.status == "queued":
            _finish(conn, job, status="canceled", from_statuses=("queued",))
        else:
            repo.request_cancel(conn, job_id)


def claim(conn: Connection, job_id: UUID) -> Job | None:
    return repo.claim(conn, job_id)


def mark_dispatched(conn: Connection, job_ids: Sequence[UUID]) -> None:
    """Record that the jobs were handed to a worker (the reconciler re-dispatches queued jobs without this): one
    statement on an autocommit connection (`Database.autocommit()`), committed without waiting for the disk. The
    API's marks come in batches (`shared/jobs/marks.DispatchMarks`)."""
    repo.mark_dispatched_alone(conn, job_ids)


def cancel_wins(conn: Connection, job: Job) -> bool:
    """The success transaction's last look before it commits: True when a cancel was accepted meanwhile.

    Takes the job row's lock, so a cancel either committed before (and wins: the caller discards the outputs
    and ends the job `canceled`) or waits for this commit and answers 409 `job_finished`."""
    return repo.lock_cancel_requested(conn, job.id)


def charge_for(cost: int, count: int, delivered: int) -> int:
    """What a job that delivered `delivered` of its `count` images is charged: its share of `cost`, rounded down
    (in the person's favour), so no withheld image is ever paid for. Everything when all was delivered."""
    count = max(count, 1)
    if delivered >= count:
        return cost
    return cost * max(delivered, 0) // count


def succeed(
    conn: Connection,
    job: Job,
    *,
    delivered: int,
    seed: int | None,
    prompt_text: str | None,
    withheld: Withheld | None = None,
) -> Job | None:
    """Running → succeeded and the hold posted for what was delivered (`charge_for`; the rest goes back in the same
    transaction), recording what was withheld and why; None if the job was finished meanwhile."""
    done = repo.finish(
        conn,
        job.id,
        status="succeeded",
        from_statuses=("running",),
        seed=seed,
        prompt_text=prompt_text,
        withheld_count=withheld.count if withheld else 0,
        withheld_reason=withheld.reason if withheld else None,
    )
    if done is None:
        return None
    if job.hold_id is not None:
        _settle(conn, job.hold_id, charge_for(job.cost, job.params.count, delivered))
    return done


def fail(conn: Connection, job: Job, *, code: str, message: str) -> Job | None:
    return _finish(conn, job, status="failed", from_statuses=("queued", "running"), code=code, message=message)


def mark_canceled(conn: Connection, job: Job) -> Job | None:
    return _finish(conn, job, status="canceled", from_statuses=("queued", "running"))


def _finish(
    conn: Connection,
    job: Job,
    *,
    status: str,
    from_statuses: tuple[str, ...],
    code: str | None = None,
    message: str | None = None,
) -> Job | None:
    """Finish without delivering anything: the hold is voided in the same transaction."""
    done = repo.finish(conn, job.id, status=status, from_statuses=from_statuses, error_code=code, error_message=message)
    if done is not None and job.hold_id is not None:
        _settle(conn, job.hold_id, 0)
    return done


def _settle(conn: Connection, hold_id: UUID, charge: int) -> None:
    """Post `charge` credits of a finishing job's hold (void it when nothing is charged). A hold the sweeper voided
    already (`expire-holds`: its deadline, the job's plus five minutes, passed while the scheduler or the worker was
    late) gave the credits back: the job still ends, and nothing is charged for it. Refusing would roll the job's
    end back every time, leaving it active for ever and failing the reconciler's whole batch."""
    try:
        if charge > 0:
            credits.post(conn, hold_id, charge)
        else:
            credits.void(conn, hold_id)
    except HoldAlreadyResolved:  # the operator's sign that holds expire before their jobs end
        log.warning("a finishing job's hold was resolved already", extra={"hold_id": str(hold_id)})


def fail_overdue(conn: Connection, *, now: datetime, limit: int = 100) -> int:
    """Fail jobs whose worker died or never started before the deadline, and return their credits."""
    overdue = repo.overdue(conn, now=now, limit=limit)
    for job in overdue:
        fail(conn, job, code="timeout", message="The job did not finish in time; your credits were returned.")
    return len(overdue)


def fail_stale(conn: Connection, *, beat_before: datetime, limit: int = 100) -> int:
    """Fail running jobs whose worker stopped beating (it died mid-job), and return their credits."""
    stale = repo.stale_running(conn, beat_before=beat_before, limit=limit)
    for job in stale:
        fail(conn, job, code="worker_lost", message="The worker stopped while rendering; your credits were returned.")
    return len(stale)
