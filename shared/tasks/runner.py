"""Runs one task and records the run. Tasks claim their own work (FOR UPDATE SKIP LOCKED) in bounded
batches, so two overlapping runs never process an item twice and a crash resumes on the next run."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from config.values import value
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.tasks.cron import Cron

log = logging.getLogger("atelier.tasks")

TaskFn = Callable[[Database, datetime], int]


@value
class TaskDef:
    """A scheduled task: its name (the CLI and Modal name), how often it runs, and what it does."""

    name: str
    schedule: str  # a cron expression (UTC) or "every Ns" (the Modal tick runs each minute, so at most that often)
    run: TaskFn
    description: str

    def __post_init__(self) -> None:
        """A schedule that cannot be read fails when the registry is built, not at the first tick."""
        if self.schedule.startswith("every "):
            if not self.schedule.removeprefix("every ").removesuffix("s").isdigit() or not self.schedule.endswith("s"):
                raise ValueError(f"{self.name}: an interval schedule reads 'every Ns', not {self.schedule!r}")
        else:
            Cron.parse(self.schedule)


@value
class TaskRun:
    id: uuid.UUID
    task: str
    started_at: datetime
    finished_at: datetime | None
    items: int
    outcome: str
    error: str | None


def run_task(db: Database, task: TaskDef, *, now: datetime | None = None) -> TaskRun:
    """Record the run's start, run it, record the outcome; the error text is the exception type only."""
    run_id = uuid.uuid4()
    with db.transaction() as conn:
        row = conn.execute(
            "insert into task_runs (id, task) values (%s, %s) returning now() as started",
            (run_id, task.name),
        ).fetchone()
    assert row is not None  # noqa: S101 - returning always yields a row
    when: datetime = now or row["started"]
    started = time.monotonic()
    items, outcome, error = 0, "succeeded", None
    try:
        items = task.run(db, when)
    except Exception as exc:
        outcome, error = "failed", f"{type(exc).__name__}"
        log.exception("task failed", extra={"task": task.name, "run_id": str(run_id)})
    with db.transaction() as conn:
        conn.execute(
            "update task_runs set finished_at = now(), items = %s, outcome = %s, error = %s where id = %s",
            (items, outcome, error, run_id),
        )
    log.info(
        "task finished",
        extra={"task": task.name, "items": items, "outcome": outcome, "seconds": round(time.monotonic() - started, 3)},
    )
    return history(db, task=task.name, limit=1)[0]


def history(db: Database, *, task: str | None = None, limit: int = 50) -> list[TaskRun]:
    with db.transaction() as conn:
        rows = conn.execute(
            """select id, task, started_at, finished_at, items, outcome, error from task_runs
               where %(task)s::text is null or task = %(task)s
               order by started_at desc limit %(limit)s""",
            {"task": task, "limit": limit},
        ).fetchall()
    return [TaskRun(**row) for row in rows]


def last_runs(db: Database) -> dict[str, TaskRun]:
    """The latest run of each task that ever ran."""
    with db.transaction() as conn:
        rows = conn.execute(
            """select distinct on (task) id, task, started_at, finished_at, items, outcome, error from task_runs
               order by task, started_at desc"""
        ).fetchall()
    return {row["task"]: TaskRun(**row) for row in rows}


def in_batches(db: Database, batch: Callable[[Connection], int], *, limit: int, max_batches: int = 1000) -> int:
    """Run `batch(conn)` in short transactions until it returns fewer than `limit` items; holds no lock for long."""
    total = 0
    for _ in range(max_batches):
        with db.transaction() as conn:
            done = batch(conn)
        total += done
        if done < limit:
            break
    return total
