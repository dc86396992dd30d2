"""Which tasks are due, and claiming each due task for exactly one run at a time.

One ticker (Modal Cron every minute in production, a thread in the local stack) asks `claim_due` which tasks of
the registry are due and starts each claimed one on its own (a Modal function call, a thread), so a slow task
never delays another. A claim is a lease in `task_schedule`: while a run holds it no tick starts that task again,
and a due time is claimed once, so overlapping ticks never run a task twice for it. A run that dies keeps its
lease until the lease ends; the next tick after that starts the task again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from config.values import value
from shared.kit.db import Database
from shared.tasks.cron import Cron
from shared.tasks.runner import TaskDef, TaskRun, run_task

log = logging.getLogger("atelier.tasks")

# How long a claimed run may take before another tick may start the task again (the Modal run's timeout + margin).
DEFAULT_LEASE = timedelta(seconds=960)


@value
class Claim:
    task: str
    run_id: uuid.UUID
    due_at: datetime
    previous_due: datetime | None


def interval_seconds(schedule: str) -> int | None:
    """`every 30s` → 30; None for a cron expression."""
    if not schedule.startswith("every "):
        return None
    return int(schedule.removeprefix("every ").removesuffix("s"))


def due_at(task: TaskDef, now: datetime, last_due: datetime | None) -> datetime | None:
    """The due time a run started now would cover, or None when the task is not due.

    A cron task is due once per firing time (a tick that missed several runs it once); an interval task when its
    interval has passed since the last claimed due time. A task never claimed before is due at once.
    """
    interval = interval_seconds(task.schedule)
    if interval is not None:
        return now if last_due is None or last_due + timedelta(seconds=interval) <= now else None
    fire = Cron.parse(task.schedule).latest(now)
    if fire is None:
        return None
    if last_due is None:
        return fire
    return fire if fire > last_due else None


_CLAIM = """
insert into task_schedule as s (task, last_due, run_id, lease_until)
values (%(task)s, %(due)s, %(run_id)s, %(until)s)
on conflict (task) do update
   set last_due = excluded.last_due, run_id = excluded.run_id, lease_until = excluded.lease_until
 where (s.last_due is null or s.last_due < excluded.last_due)
   and (s.lease_until is null or s.lease_until <= %(now)s)
returning run_id
"""


def claim_due(
    db: Database, tasks: Iterable[TaskDef], *, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> list[Claim]:
    """Claim every due task that no run holds; each claim is its own short transaction."""
    with db.transaction() as conn:
        rows = conn.execute("select task, last_due from task_schedule").fetchall()
    last = {row["task"]: row["last_due"] for row in rows}
    claims: list[Claim] = []
    for task in tasks:
        due = due_at(task, now, last.get(task.name))
        if due is None:
            continue
        run_id = uuid.uuid4()
        params = {"task": task.name, "due": due, "run_id": run_id, "until": now + lease, "now": now}
        with db.transaction() as conn:
            won = conn.execute(_CLAIM, params).fetchone()
        if won is not None:
            claims.append(Claim(task.name, run_id, due, last.get(task.name)))
    return claims


def claim_now(db: Database, task: TaskDef, *, now: datetime, lease: timedelta = DEFAULT_LEASE) -> Claim | None:
    """Claim a task for a run outside its schedule (`deploy.py task NAME`); None while another run holds it."""
    run_id = uuid.uuid4()
    with db.transaction() as conn:
        row = conn.execute(
            """insert into task_schedule as s (task, run_id, lease_until) values (%(task)s, %(run_id)s, %(until)s)
               on conflict (task) do update set run_id = excluded.run_id, lease_until = excluded.lease_until
                where s.lease_until is null or s.lease_until <= %(now)s
               returning last_due""",
            {"task": task.name, "run_id": run_id, "until": now + lease, "now": now},
        ).fetchone()
    return None if row is None else Claim(task.name, run_id, now, row["last_due"])


def release(db: Database, claim: Claim, *, undo_due: bool = False) -> None:
    """End a claim's lease; `undo_due` also gives its due time back (the run could not even be started)."""
    with db.transaction() as conn:
        conn.execute(
            """update task_schedule
                  set run_id = null, lease_until = null,
                      last_due = case when %(undo)s then %(previous)s else last_due end
                where task = %(task)s and run_id = %(run_id)s""",
            {"task": claim.task, "run_id": claim.run_id, "undo": undo_due, "previous": claim.previous_due},
        )


def renew(db: Database, claim: Claim, *, now: datetime, lease: timedelta = DEFAULT_LEASE) -> bool:
    """Restart the claim's lease as its run begins (a spawned call may start late); False when the claim is no longer
    this run's (its lease ended and another run took the task), and the run must not go ahead."""
    with db.transaction() as conn:
        row = conn.execute(
            """update task_schedule set lease_until = %(until)s
                where task = %(task)s and run_id = %(run_id)s returning task""",
            {"task": claim.task, "run_id": claim.run_id, "until": now + lease},
        ).fetchone()
    return row is not None


def run_claimed(db: Database, task: TaskDef, claim: Claim, *, now: datetime | None = None) -> TaskRun | None:
    """Run a claimed task, record the run, and always end the lease; None when the claim was lost before it began."""
    if not renew(db, claim, now=now or datetime.now(UTC)):
        log.warning("claim lost before the run began; not running", extra={"task": task.name})
        return None
    try:
        return run_task(db, task)
    finally:
        release(db, claim)
