"""The Modal side of the scheduled tasks: one Cron tick that spawns every due task as its own call.

Workspaces may deploy only a few scheduled functions; one ticker that spawns each due task of the registry
(functions/tasks.py) scales to any number of tasks. Both functions run on the torch-free API image.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import modal

from config.connections import TASK_POOL_MAX, TASK_RUN_MAX_CONTAINERS, TICK_MAX_CONTAINERS
from config.settings import get_settings
from functions.modal_app import SECRETS, api_image, app
from functions.tasks import TASKS, tick_once
from shared.kit.db import open_database
from shared.logs import configure_logging
from shared.tasks.schedule import Claim, run_claimed

TICK_SCHEDULE = "* * * * *"
RUN_TIMEOUT = 900  # seconds; the claim's lease (shared/tasks/schedule.py) outlasts it


@app.function(
    image=api_image,
    secrets=SECRETS,
    timeout=120,
    schedule=modal.Cron(TICK_SCHEDULE),
    max_containers=TICK_MAX_CONTAINERS,
)
def tick() -> None:
    """Every minute: spawn each due task of the registry (TASKS) as its own `run_scheduled` call."""
    configure_logging()
    db = open_database(get_settings(), max_size=TASK_POOL_MAX)
    try:
        tick_once(db, run_scheduled.spawn, now=datetime.now(UTC))
    finally:
        db.close()


@app.function(image=api_image, secrets=SECRETS, timeout=RUN_TIMEOUT, max_containers=TASK_RUN_MAX_CONTAINERS)
def run_scheduled(name: str, run_id: str) -> None:
    """One claimed run of one task; the lease ends when it does."""
    configure_logging()
    db = open_database(get_settings(), max_size=TASK_POOL_MAX)
    try:
        run_claimed(db, TASKS[name], Claim(name, UUID(run_id), datetime.now(UTC), None))
    finally:
        db.close()
