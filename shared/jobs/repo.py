"""SQL for the jobs table. Every state change is a conditional update, so each transition happens once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from shared.jobs.models import ACTIVE, Job, JobParams, JobSpec
from shared.kit.db.database import COMMIT_WITHOUT_FLUSH, Connection
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


@dataclass(frozen=True)
class Admission:
    """What `admit` found: the job it inserted, else why not (the key's earlier job, the active count)."""

    job: Job | None
    existing_id: UUID | None  # the job this Idempotency-Key admitted before
    existing_sha256: str | None  # and the fingerprint of the body it came with
    active: int  # the user's jobs queued or running before this one


# The Idempotency-Key's earlier job and the user's jobs queued or running: what an admission asks, and what a
# refused one (`admission_state`) still answers first.
_STATE = """
with existing as (
    select id, request_sha256 from jobs
     where %(key)s::text is not null and user_id = %(user_id)s and idempotency_key = %(key)s
), active as (
    select count(*) as n from jobs where user_id = %(user_id)s and status = any(%(active)s::text[])
)"""
# One statement under the user's credit-account lock (taken by an earlier statement, so its snapshot sees every
# admission committed before the lock was granted): the key's earlier job, the active count, and the insert only
# when there is neither an earlier job nor a full quota. `on conflict` still guards the key's unique index.
_ADMIT = f"""{_STATE}, inserted as (
    insert into jobs (id, user_id, task, model, prompt, params, image_id, mask_id, cost, seed, hold_id,
                      idempotency_key, request_sha256, deadline_at)
    select %(id)s::uuid, %(user_id)s::uuid, %(task)s::text, %(model)s::text, %(prompt)s::text, %(params)s::jsonb,
           %(image_id)s::uuid, %(mask_id)s::uuid, %(cost)s::integer, %(seed)s::bigint, %(hold_id)s::uuid,
           %(key)s::text, %(sha)s::text, now() + %(deadline)s::interval
     where not exists (select 1 from existing)
       and (%(max_active)s::integer is null or (select n from active) < %(max_active)s::integer)
    on conflict (user_id, idempotency_key) where idempotency_key is not null do nothing
    returning {_COLUMNS}
)
select e.id as existing_id, e.request_sha256 as existing_sha256, a.n as active, i.*
  from active a left join existing e on true left join inserted i on true
"""


def admit(
    conn: Connection,
    *,
    job_id: UUID,
    user_id: UUID,
    spec: JobSpec,
    cost: int,
    hold_id: UUID | None,
    idempotency_key: str | None,
    request_sha256: str,
    deadline: timedelta,
    max_active: int | None,
) -> Admission:
    """Insert a queued job carrying its hold, due `deadline` after the transaction's start (`now()`), unless the
    user already used the idempotency key or has `max_active` jobs queued or running: one round trip. The caller
    holds the user's credit-account lock, so the key's lookup and the count are exact."""
    row = conn.execute(
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
            "hold_id": hold_id,
            "key": idempotency_key,
            "sha": request_sha256,
            "deadline": deadline,
            "max_active": max_active,
            "active": list(ACTIVE),
        },
    ).fetchone()
    assert row is not None  # noqa: S101 - `active` is always one row
    existing_id, existing_sha256, active = row.pop("existing_id"), row.pop("existing_sha256"), int(row.pop("active"))
    return Admission(
        job=_job(row) if row["id"] is not None else None,
        existing_id=existing_id,
        existing_sha256=existing_sha256,
        active=active,
    )


def admission_state(conn: Connection, user_id: UUID, key: str | None) -> tuple[UUID | None, str | None, int]:
    """(the key's earlier job, its fingerprint, the active count) without inserting: for a request the ledger
    refused, whose replay or full quota is answered first. The caller holds the user's credit-account lock."""
    row = conn.execute(
        f"{_STATE} select e.id, e.request_sha256, a.n from active a left join existing e on true",
        {"user_id": user_id, "key": key, "active": list(ACTIVE)},
    ).fetchone()
    assert row is not None  # noqa: S101 - `active` is always one row
    return row["id"], row["request_sha256"], int(row["n"])


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


def mark_dispatched_alone(conn: Connection, job_id: UUID) -> None:
    """`mark_dispatched` as a transaction of its own (autocommit) that does not wait for its WAL flush
    (`synchronous_commit` off for that transaction only; a durable commit costs 1-3 ms on the shared machine). A
    database crash that loses the mark leaves the job as if the API had stopped between dispatch and mark: the
    reconciler dispatches it again, and the worker's claim (queued → running, once) turns the second spawn away."""
    conn.execute(
        f"""update jobs set dispatched_at = now()
              from (select {COMMIT_WITHOUT_FLUSH}) as durability
             where id = %s and status = 'queued'""",
        (job_id,),
    )


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
