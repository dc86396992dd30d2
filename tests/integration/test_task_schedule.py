"""One ticker for every task: due tasks are claimed once, a running task is never started again, a slow task
delays no other, and the local scheduler and the Modal tick share the registry and the rule."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions import tasks
from functions.local import LocalScheduler
from shared.kit.db import Database
from shared.tasks.runner import TaskDef, history, run_task
from shared.tasks.schedule import claim_due, claim_now, release, run_claimed

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2030, 3, 14, 10, 37, 25, tzinfo=UTC)


def _task(name: str, schedule: str = "41 * * * *") -> TaskDef:
    return TaskDef(name, schedule, lambda db, now: 0, "test")


def test_overlapping_ticks_claim_each_due_task_once(db: Database) -> None:
    registry = [_task(f"task-{index}") for index in range(6)]
    claimed: list[list[str]] = []
    barrier = threading.Barrier(8)

    def tick() -> None:
        barrier.wait()
        claims = claim_due(db, registry, now=NOW)
        claimed.append([claim.task for claim in claims])

    threads = [threading.Thread(target=tick) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = sorted(name for names in claimed for name in names)
    assert everything == sorted(task.name for task in registry)


def test_a_task_whose_run_holds_the_lease_is_not_started_again(db: Database) -> None:
    hourly = _task("hourly")
    (first,) = claim_due(db, [hourly], now=NOW, lease=timedelta(hours=3))
    # The next firing time passes while the first run still holds its lease: no second run.
    assert claim_due(db, [hourly], now=NOW + timedelta(hours=1)) == []
    release(db, first)
    (second,) = claim_due(db, [hourly], now=NOW + timedelta(hours=1, minutes=1))
    assert second.due_at == datetime(2030, 3, 14, 10, 41, tzinfo=UTC)
    # The second run dies without releasing: its lease (16 minutes) holds off the 11:41 run until it ends.
    assert claim_due(db, [hourly], now=NOW + timedelta(hours=1, minutes=10)) == []
    (third,) = claim_due(db, [hourly], now=NOW + timedelta(hours=1, minutes=20))
    assert third.due_at == datetime(2030, 3, 14, 11, 41, tzinfo=UTC)


def test_a_firing_time_already_run_is_not_run_again_after_release(db: Database) -> None:
    hourly = _task("hourly")
    (claim,) = claim_due(db, [hourly], now=NOW)
    release(db, claim)
    assert claim_due(db, [hourly], now=NOW + timedelta(minutes=2)) == []


def test_the_tick_starts_each_due_task_as_its_own_call_and_retries_one_it_could_not_start(db: Database) -> None:
    started: list[tuple[str, str]] = []
    refused = {"sync-billing"}

    def start(name: str, run_id: str) -> None:
        if name in refused:
            raise ConnectionError("could not reach Modal")
        started.append((name, run_id))

    names = tasks.tick_once(db, start, now=NOW)
    assert sorted(names) == sorted(set(tasks.TASKS) - refused)
    assert sorted(name for name, _ in started) == sorted(names)
    assert len({run_id for _, run_id in started}) == len(started)  # one call, one claim each
    # The task that could not be started gave its claim back; the next tick starts it, and only it.
    refused.clear()
    started.clear()
    assert tasks.tick_once(db, start, now=NOW + timedelta(seconds=5)) == ["sync-billing"]


def test_a_spawned_run_records_itself_and_ends_its_lease(db: Database) -> None:
    task = _task("counted")
    (claim,) = claim_due(db, [task], now=NOW)
    run = run_claimed(db, task, claim, now=NOW)
    assert run is not None
    assert run.outcome == "succeeded"
    assert claim_now(db, task, now=NOW) is not None  # the lease ended with the run


def test_a_spawned_run_that_starts_after_its_lease_was_taken_over_does_not_run(db: Database) -> None:
    ran: list[datetime] = []

    def record(_: Database, now: datetime) -> int:
        ran.append(now)
        return 1

    task = TaskDef("late", "41 * * * *", record, "test")
    (late,) = claim_due(db, [task], now=NOW, lease=timedelta(minutes=1))
    (taken_over,) = claim_due(db, [task], now=NOW + timedelta(hours=1))  # the late call never began; lease over
    assert run_claimed(db, task, late, now=NOW + timedelta(hours=1)) is None
    assert ran == []
    assert run_claimed(db, task, taken_over, now=NOW + timedelta(hours=1)) is not None
    assert len(ran) == 1


def test_a_run_by_hand_waits_for_a_scheduled_run_to_finish(db: Database) -> None:
    task = _task("busy")
    (claim,) = claim_due(db, [task], now=NOW)
    assert claim_now(db, task, now=NOW + timedelta(seconds=1)) is None
    release(db, claim)
    assert claim_now(db, task, now=NOW + timedelta(seconds=2)) is not None


def test_the_local_scheduler_runs_a_slow_task_once_and_keeps_the_others_going(db: Database) -> None:
    release_slow = threading.Event()
    slow_runs: list[datetime] = []
    fast_runs: list[datetime] = []

    def slow(_: Database, now: datetime) -> int:
        slow_runs.append(now)
        release_slow.wait(30)
        return 1

    def fast(_: Database, now: datetime) -> int:
        fast_runs.append(now)
        return 1

    scheduler = LocalScheduler(
        db, [TaskDef("slow", "every 1s", slow, "t"), TaskDef("fast", "every 1s", fast, "t")], tick_seconds=0.05
    )
    scheduler.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while len(fast_runs) < 3 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.1)
        assert len(fast_runs) >= 3
        assert len(slow_runs) == 1  # due every second, but never started while its run goes on
    finally:
        release_slow.set()
        scheduler.stop()
    assert [run.outcome for run in history(db, task="slow")] == ["succeeded"]


@pytest.mark.slow
def test_task_list_shows_each_schedule_and_last_run(db: Database, database_url: str, tmp_path: Path) -> None:
    run_task(db, tasks.TASKS["expire-holds"])
    env = {**os.environ, "DATABASE_URL": database_url, "ATELIER_DATA_DIR": str(tmp_path)}
    listed = subprocess.run(
        [sys.executable, "deploy.py", "task", "--list"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert set(lines) == set(tasks.TASKS)
    for name, task in tasks.TASKS.items():
        assert task.schedule in lines[name]
    assert "succeeded" in lines["expire-holds"]
    assert "never" in lines["sync-billing"]
