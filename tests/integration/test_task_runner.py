"""The task runner records every run, its outcome and item count; bookkeeping retention is time-travelled."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from shared.kit.db import Database
from shared.tasks.housekeeping import prune_task_runs
from shared.tasks.runner import TaskDef, history, run_task


def _boom(db: Database, now: datetime) -> int:
    raise ValueError("secret detail that must not be stored")


def test_a_run_is_recorded_with_items_and_outcome(db: Database) -> None:
    seen: list[datetime] = []

    def count_three(_: Database, now: datetime) -> int:
        seen.append(now)
        return 3

    when = datetime(2030, 1, 1, tzinfo=UTC)
    run = run_task(db, TaskDef("count-three", "every 60s", count_three, "test"), now=when)
    assert (run.task, run.outcome, run.items, run.error) == ("count-three", "succeeded", 3, None)
    assert run.finished_at is not None
    assert seen == [when]


def test_a_failure_is_recorded_without_its_message(db: Database) -> None:
    run = run_task(db, TaskDef("boom", "every 60s", _boom, "test"))
    assert (run.outcome, run.error) == ("failed", "ValueError")
    assert [r.outcome for r in history(db, task="boom")] == ["failed"]


def _insert_run(db: Database, started: datetime, outcome: str = "succeeded") -> None:
    with db.transaction() as conn:
        conn.execute(
            """insert into task_runs (id, task, started_at, finished_at, outcome)
               values (gen_random_uuid(), 'x', %s, %s, %s)""",
            (started, None if outcome == "running" else started, outcome),
        )


def test_prune_task_runs_keeps_the_last_90_days(db: Database) -> None:
    now = datetime(2031, 6, 1, tzinfo=UTC)
    _insert_run(db, now - timedelta(days=89))
    _insert_run(db, now - timedelta(days=91))
    _insert_run(db, now - timedelta(days=91), outcome="running")  # never pruned while it claims to run
    assert prune_task_runs(db, now) == 1
    with db.transaction() as conn:
        left = conn.execute("select started_at, outcome from task_runs order by started_at").fetchall()
    assert [(r["started_at"], r["outcome"]) for r in left] == [
        (now - timedelta(days=91), "running"),
        (now - timedelta(days=89), "succeeded"),
    ]


def test_two_concurrent_prunes_delete_each_row_once(db: Database) -> None:
    now = datetime(2031, 6, 1, tzinfo=UTC)
    with db.transaction() as conn:
        conn.execute(
            """insert into task_runs (id, task, started_at, finished_at, outcome)
               select gen_random_uuid(), 'x', %s, %s, 'succeeded' from generate_series(1, 2500)""",
            (now - timedelta(days=200), now - timedelta(days=200)),
        )
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(prune_task_runs(db, now))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 2500
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from task_runs").fetchone() == {"n": 0}
