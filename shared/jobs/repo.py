"""SQL for the jobs table. Every state change is a conditional update, so each transition happens once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from shared.jobs.models import Admitted, Job, JobParams, JobSpec
from shared.kit.db.database import Connection, Statement
from shared.kit.pagination import Cursor

_COLUMNS = (
    "id, user_id, task, model, status, prompt, params, image_id, mask_id, cost, hold_id, progress, cancel_requested,"
    " seed, prompt_text, error_code, error_message, attempts, created_at, dispatched_at, started_at, finished_at,"
    " deadline_at, withheld_count, withheld_reason, step, steps, step_at"
)


# What retention clears on a failed job once its period is over (the one change a finished job allows).
JOB_INPUTS_ANONYMISED = (
    "prompt = null, prompt_text = null, image_id = null, mask_id = null, params = params - 'negative_prompt'"
)


def _job(row: dict[str, Any] | None) -> Job | None:
    return Job(**{**row, "params": JobParams.from_json(row["params"])}) if row else None


# The admission (migration 0042): the hold (it takes the user's credit-account lock), the Idempotency-Key's earlier
# job and the jobs queued or running, both read after the lock was granted, and the insert carrying the hold's id, in
# one statement. A refusal raises ADMISSION_REFUSED, so nothing of it is kept (`refusal` reads which one). Only the
# columns `Admitted` holds are read back: the function still answers the whole row.
_ADMIT = """select id, status, cost, model, hold_id from job_admit(
    %(id)s::uuid, %(user_id)s::uuid, %(task)s::text, %(model)s::text, %(prompt)s::text, %(params)s::jsonb,
    %(image_id)s::uuid, %(mask_id)s::uuid, %(cost)s::integer, %(seed)s::bigint, %(key)s::text, %(sha)s::text,
    %(deadline)s::interval, %(hold_ttl)s::interval, %(max_active)s::integer)"""
ADMISSION_REFUSED = "JA001"  # job_admit's SQLSTATE: MESSAGE names the refusal, DETAIL carries its value


def admit_statement(
    *,
    job_id: UUID,
    user_id: UUID,
    spec: JobSpec,
    cost: int,
    idempotency_key: str | None,
    request_sha256: str,
    deadline: timedelta,
    hold_ttl: timedelta,
    max_active: int | None,
) -> Statement:
    """Hold `cost` credits for `hold_ttl` (none for a free job) and insert the queued job carrying the hold, due
    `deadline` after the transaction's start (`now()`), unless the user already used the idempotency key, has
    `max_active` jobs queued or running, or lacks the credits: one statement, whose one row is the job's id,
    status, cost, model and hold (`admitted`); a refusal raises ADMISSION_REFUSED. The key's lookup and the count
    run under the user's credit-account lock, which the hold takes first, so both are exact."""
    return Statement(
        _ADMIT,
        {
            "id": job_id,
            "user_id": user_id,
            "task": spec.task,
            "model": spec.model,
            "prompt": spec.prompt,
            "params": Jsonb(spec.params.to_json()),
            "image_id": spec.image_id,
            "mask_id": spec.mask_id,
            "cost": cost,
            "seed": spec.seed,
            "key": idempotency_key,
            "sha": request_sha256,
            "deadline": deadline,
            "hold_ttl": hold_ttl,
            "max_active": max_active,
        },
    )


def admitted(rows: list[dict[str, Any]]) -> Admitted:
    """The job `admit_statement` inserted, from its rows."""
    return Admitted(**rows[0])


def refusal(error: psycopg.Error) -> tuple[str, str | None] | None:
    """(the refusal, its value) when `error` is the admission's refusal, else None (any other error)."""
    if error.sqlstate != ADMISSION_REFUSED:
        return None
    return error.diag.message_primary or "", error.diag.message_detail


def _job_of(row: dict[str, Any]) -> Job:
    job = _job(row)
    assert job is not None  # noqa: S101 - a row was given
    return job


def recent_prompts(conn: Connection, user_id: UUID, limit: int) -> list[tuple[str, datetime]]:
    """The user's distinct prompts, each with when it was last used, newest first."""
    rows = conn.execute(
        """select prompt, max(created_at) as used_at from jobs
            where user_id = %s and prompt is not null
            group by prompt order by used_at desc limit %s""",
        (user_id, limit),
    ).fetchall()
    return [(row["prompt"], row["used_at"]) for row in rows]


def get(conn: Connection, job_id: UUID, *, user_id: UUID | None = None, for_update: bool = False) -> Job | None:
    owner = " and user_id = %(user_id)s" if user_id is not None else ""
    lock = " for update" if for_update else ""
    row = conn.execute(
        f"select {_COLUMNS} from jobs where id = %(id)s{owner}{lock}", {"id": job_id, "user_id": user_id}
    ).fetchone()
    return _job(row)


def list_for_user(
    conn: Connection,
    user_id: UUID,
    *,
    cursor: Cursor | None,
    limit: int,
    statuses: list[str] | None,
    task: str | None,
) -> list[Job]:
    rows = conn.execute(
        f"""select {_COLUMNS} from jobs
            where user_id = %(user_id)s
              and (%(statuses)s::text[] is null or status = any(%(statuses)s::text[]))
              and (%(task)s::text is null or task = %(task)s)
              and (%(c_at)s::timestamptz is null or (created_at, id) < (%(c_at)s, %(c_id)s::uuid))
            order by created_at desc, id desc
            limit %(limit)s""",
        {
            "user_id": user_id,
            "statuses": statuses,
            "task": task,
            "c_at": cursor.created_at if cursor else None,
            "c_id": cursor.id if cursor else None,
            "limit": limit,
        },
    ).fetchall()
    return [_job_of(row) for row in rows]


def mark_dispatched(conn: Connection, job_id: UUID) -> None:
    conn.execute("update jobs set dispatched_at = now() where id = %s and status = 'queued'", (job_id,))


def mark_dispatched_alone(conn: Connection, job_ids: Sequence[UUID]) -> None:
    """`mark_dispatched` of every job in `job_ids` (a batch: `shared/jobs/marks.py`) as one statement, a
    transaction of its own (autocommit) that does not wait for its WAL flush (`synchronous_commit` off for that
    transaction only; a durable commit costs 1-3 ms on the shared machine). A database crash that loses the marks
    leaves the jobs as if the API had stopped between dispatch and mark: the reconciler dispatches them again, and
    the worker's claim (queued → running, once) turns the second spawn away. Through a PL/pgSQL function
    (`job_mark_dispatched`, migration 0043), whose update's plan is kept per connection."""
    conn.execute("select job_mark_dispatched(m.id) from unnest(%s::uuid[]) as m (id)", (list(job_ids),))


def claim(conn: Connection, job_id: UUID) -> Job | None:
    """queued → running, once: a second worker (or a redelivered spawn) gets None."""
    row = conn.execute(
        f"""update jobs set status = 'running', started_at = now(), heartbeat_at = now(), attempts = attempts + 1
            where id = %s and status = 'queued' and not cancel_requested
            returning {_COLUMNS}""",
        (job_id,),
    ).fetchone()
    return _job(row)


def report_progress(
    conn: Connection, job_id: UUID, progress: float, *, step: int | None = None, steps: int | None = None
) -> bool:
    """Store progress (and the render step, when known); returns whether a cancel was requested meanwhile."""
    row = conn.execute(
        """update jobs set progress = greatest(progress, %(progress)s), heartbeat_at = now(),
                   step = coalesce(%(step)s, step), steps = coalesce(%(steps)s, steps),
                   step_at = case when %(step)s::int is null then step_at else now() end
            where id = %(id)s and status = 'running'
           returning cancel_requested""",
        {"progress": min(max(progress, 0.0), 1.0), "id": job_id, "step": step, "steps": steps},
    ).fetchone()
    return bool(row["cancel_requested"]) if row else True


def touch_heartbeat(conn: Connection, job_id: UUID) -> bool:
    """The worker is alive; False once the job is no longer running."""
    return (
        conn.execute("update jobs set heartbeat_at = now() where id = %s and status = 'running'", (job_id,)).rowcount
        > 0
    )


def cancel_requested(conn: Connection, job_id: UUID) -> bool:
    row = conn.execute("select cancel_requested, status from jobs where id = %s", (job_id,)).fetchone()
    return row is None or bool(row["cancel_requested"]) or row["status"] != "running"


def lock_cancel_requested(conn: Connection, job_id: UUID) -> bool:
    """Lock the job row (until commit) and read its cancel request: a cancel committed before this is seen,
    and one sent after it waits for the commit and then finds the job finished."""
    row = conn.execute("select cancel_requested from jobs where id = %s for update", (job_id,)).fetchone()
    return row is not None and bool(row["cancel_requested"])


def request_cancel(conn: Connection, job_id: UUID) -> None:
    conn.execute("update jobs set cancel_requested = true where id = %s and status in ('queued', 'running')", (job_id,))


def finish(
    conn: Connection,
    job_id: UUID,
    *,
    status: str,
    from_statuses: tuple[str, ...],
    seed: int | None = None,
    prompt_text: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    withheld_count: int = 0,
    withheld_reason: str | None = None,
) -> Job | None:
    """Move an unfinished job to its final state, once; None if it was no longer in `from_statuses`."""
    row = conn.execute(
        f"""update jobs set status = %(status)s, finished_at = now(),
                   progress = case when %(status)s = 'succeeded' then 1 else progress end,
                   seed = coalesce(%(seed)s, seed), prompt_text = %(prompt_text)s,
                   error_code = %(error_code)s, error_message = %(error_message)s,
                   withheld_count = %(withheld_count)s, withheld_reason = %(withheld_reason)s
            where id = %(id)s and status = any(%(from)s)
            returning {_COLUMNS}""",
        {
            "id": job_id,
            "status": status,
            "from": list(from_statuses),
            "seed": seed,
            "prompt_text": prompt_text,
            "error_code": error_code,
            "error_message": error_message,
            "withheld_count": withheld_count,
            "withheld_reason": withheld_reason,
        },
    ).fetchone()
    return _job(row)


def unfinished_of(conn: Connection, user_id: UUID) -> list[UUID]:
    rows = conn.execute(
        "select id from jobs where user_id = %s and status in ('queued', 'running') order by created_at", (user_id,)
    ).fetchall()
    return [row["id"] for row in rows]


def overdue(conn: Connection, *, now: datetime, limit: int) -> list[Job]:
    """Unfinished jobs past their deadline, locked for this run and skipped by any other."""
    rows = conn.execute(
        f"""select {_COLUMNS} from jobs where status in ('queued', 'running') and deadline_at < %s
            order by deadline_at limit %s for update skip locked""",
        (now, limit),
    ).fetchall()
    return [_job_of(row) for row in rows]


def stale_running(conn: Connection, *, beat_before: datetime, limit: int) -> list[Job]:
    """Running jobs whose worker has not beaten since `beat_before`, locked for this run and skipped by any other."""
    rows = conn.execute(
        f"""select {_COLUMNS} from jobs
             where status = 'running' and coalesce(heartbeat_at, started_at) < %s
             order by heartbeat_at limit %s for update skip locked""",
        (beat_before, limit),
    ).fetchall()
    return [_job_of(row) for row in rows]


def undispatched(conn: Connection, *, older_than: datetime, limit: int) -> list[tuple[UUID, str]]:
    """(id, model) of queued jobs never handed to a worker, locked for this run and skipped by any other."""
    rows = conn.execute(
        """select id, model from jobs where status = 'queued' and dispatched_at is null and created_at < %s
           order by created_at limit %s for update skip locked""",
        (older_than, limit),
    ).fetchall()
    return [(row["id"], row["model"]) for row in rows]
