"""Retention of Atelier's own bookkeeping."""

from __future__ import annotations

from datetime import datetime

from config.retention import rule
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.tasks.runner import in_batches

BATCH = 1000


def prune_task_runs(db: Database, now: datetime) -> int:
    """Delete finished task-run records past their retention, in bounded batches."""
    cutoff = now - rule("task_runs").keep

    def batch(conn: Connection) -> int:
        cur = conn.execute(
            """delete from task_runs where id in (
                   select id from task_runs where outcome <> 'running' and started_at < %s
                   limit %s for update skip locked)""",
            (cutoff, BATCH),
        )
        return int(cur.rowcount)

    return in_batches(db, batch, limit=BATCH)
