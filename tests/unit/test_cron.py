"""Cron expressions decide when a task is due: the latest firing time at or before now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.tasks import TASKS
from shared.tasks.cron import Cron
from shared.tasks.runner import TaskDef
from shared.tasks.schedule import due_at

NOW = datetime(2030, 3, 14, 10, 37, 25, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("expression", "latest"),
    [
        ("* * * * *", datetime(2030, 3, 14, 10, 37, tzinfo=UTC)),
        ("*/10 * * * *", datetime(2030, 3, 14, 10, 30, tzinfo=UTC)),
        ("41 * * * *", datetime(2030, 3, 14, 9, 41, tzinfo=UTC)),
        ("17 3 * * *", datetime(2030, 3, 14, 3, 17, tzinfo=UTC)),
        ("41 11 * * *", datetime(2030, 3, 13, 11, 41, tzinfo=UTC)),
        ("0 9 * * 1", datetime(2030, 3, 11, 9, 0, tzinfo=UTC)),  # Monday
        ("0 0 1 * *", datetime(2030, 3, 1, tzinfo=UTC)),
        ("5-7,30 10 * * *", datetime(2030, 3, 14, 10, 30, tzinfo=UTC)),
        ("0 12 29 2 *", datetime(2028, 2, 29, 12, 0, tzinfo=UTC)),
        ("0 0 * * 7", datetime(2030, 3, 10, tzinfo=UTC)),  # 7 is Sunday too
    ],
)
def test_latest_firing_time(expression: str, latest: datetime) -> None:
    assert Cron.parse(expression).latest(NOW) == latest


@pytest.mark.parametrize("expression", ["* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "a * * * *"])
def test_unreadable_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="cron field"):
        Cron.parse(expression)


def test_a_task_with_an_unreadable_schedule_is_refused_when_the_registry_is_built() -> None:
    with pytest.raises(ValueError, match="every Ns"):
        TaskDef("bad", "every minute", lambda db, now: 0, "")
    with pytest.raises(ValueError, match="cron field"):
        TaskDef("bad", "61 * * * *", lambda db, now: 0, "")


def test_every_registered_schedule_is_readable_and_fires() -> None:
    for task in TASKS.values():
        assert due_at(task, NOW, None) is not None, task.name


def test_a_cron_task_is_due_once_per_firing_time() -> None:
    hourly = TaskDef("hourly", "41 * * * *", lambda db, now: 0, "")
    fired = datetime(2030, 3, 14, 9, 41, tzinfo=UTC)
    assert due_at(hourly, NOW, None) == fired
    assert due_at(hourly, NOW, fired) is None
    assert due_at(hourly, NOW + timedelta(hours=1), fired) == fired + timedelta(hours=1)
    # Ticks missed for three hours run the task once, not three times.
    assert due_at(hourly, NOW + timedelta(hours=3), fired) == fired + timedelta(hours=3)


def test_an_interval_task_is_due_when_its_interval_has_passed() -> None:
    task = TaskDef("often", "every 30s", lambda db, now: 0, "")
    assert due_at(task, NOW, None) == NOW
    assert due_at(task, NOW, NOW - timedelta(seconds=29)) is None
    assert due_at(task, NOW, NOW - timedelta(seconds=30)) == NOW
