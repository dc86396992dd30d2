"""Scheduled tasks: the registry (name, schedule, function) and one Modal scheduled function per task.

The same registry drives `deploy.py task`, the local stack's scheduler and Modal Cron, so a task
runs on the same schedule everywhere.
"""

from __future__ import annotations

import modal

from config.settings import get_settings
from functions.modal_app import SECRETS, api_image, app
from shared import ratelimit
from shared.db import open_database
from shared.logs import configure_logging
from shared.security.events import prune_events
from shared.tasks.housekeeping import prune_task_runs
from shared.tasks.runner import TaskDef, TaskRun, run_task

TASKS: dict[str, TaskDef] = {
    task.name: task
    for task in (
        TaskDef("prune-task-runs", "17 3 * * *", prune_task_runs, "delete task-run records past retention"),
        TaskDef("prune-rate-limits", "*/10 * * * *", ratelimit.prune, "delete rate-limit counters of ended windows"),
        TaskDef("prune-security-events", "29 3 * * *", prune_events, "delete security events past retention"),
    )
}


def run_named(name: str) -> TaskRun:
    """Run one task now against the configured database (what Modal and `deploy.py task NAME` call)."""
    configure_logging()
    db = open_database(get_settings())
    try:
        return run_task(db, TASKS[name])
    finally:
        db.close()


def _schedule(name: str) -> modal.Cron | modal.Period:
    schedule = TASKS[name].schedule
    if schedule.startswith("every "):
        return modal.Period(seconds=int(schedule.removeprefix("every ").removesuffix("s")))
    return modal.Cron(schedule)


# One scheduled Modal function per task, all on the torch-free image.


@app.function(image=api_image, secrets=SECRETS, timeout=900, schedule=_schedule("prune-task-runs"))
def prune_task_runs_task() -> None:
    run_named("prune-task-runs")


@app.function(image=api_image, secrets=SECRETS, timeout=900, schedule=_schedule("prune-rate-limits"))
def prune_rate_limits_task() -> None:
    run_named("prune-rate-limits")


@app.function(image=api_image, secrets=SECRETS, timeout=900, schedule=_schedule("prune-security-events"))
def prune_security_events_task() -> None:
    run_named("prune-security-events")
