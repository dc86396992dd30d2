"""The local stack: the same API under uvicorn, the embedded Postgres, an in-process worker and a scheduler."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn

from config.settings import Settings
from functions.api.app import create_app
from functions.generation import dispatch
from functions.generation.dispatch import LocalDispatcher
from functions.tasks import TASKS
from shared.db import Database, migrate
from shared.db.database import database_url
from shared.db.embedded import stop_embedded
from shared.tasks.runner import TaskDef, run_task

log = logging.getLogger("atelier.local")


class LocalScheduler:
    """Runs scheduled tasks on their interval in one background thread, as Modal Cron does in production."""

    def __init__(self, db: Database, tasks: list[TaskDef]) -> None:
        self.db = db
        self.tasks = tasks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="atelier-scheduler", daemon=True)

    def start(self) -> None:
        if self.tasks:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        next_run = {task.name: time.monotonic() for task in self.tasks}
        while not self._stop.is_set():
            for task in self.tasks:
                if time.monotonic() >= next_run[task.name]:
                    try:
                        run_task(self.db, task)
                    except Exception:  # the database may be briefly unreachable; the next tick retries
                        log.exception("scheduled task could not run", extra={"task": task.name})
                    next_run[task.name] = time.monotonic() + task.every_seconds
            self._stop.wait(1.0)


def scheduled_tasks() -> list[TaskDef]:
    """The local stack runs every task of the registry, on its schedule's interval."""
    return list(TASKS.values())


def start_workers(settings: Settings, db: Database, workers: int) -> LocalDispatcher | None:
    """In-process CPU workers running the engine the settings choose (tiny offline models by default);
    with 0 workers jobs stay queued (until the reconciler fails them at their deadline)."""
    if workers < 1:
        return None
    from functions.generation.engine import engine_for
    from functions.generation.worker import JobRunner
    from functions.safety.factory import moderator_for
    from shared.media.storage import build_storage

    runner = JobRunner(
        db=db,
        storage=build_storage(settings),
        engine=engine_for(settings),
        settings=settings,
        moderator=moderator_for(settings),
    )
    pool = LocalDispatcher(runner.run, workers)
    dispatch.use(pool)
    return pool


def run_local(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Start everything, serve until Ctrl-C, then stop everything; a second start reuses the data."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(settings)
    applied = migrate(url)
    log.info("database ready", extra={"migrations_applied": len(applied)})
    db = Database(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max).open()
    workers_pool = start_workers(settings, db, workers)
    scheduler = LocalScheduler(db, scheduled_tasks())
    scheduler.start()
    app = create_app(settings, db)
    try:
        # Logging is configured by the caller (deploy.py: shared.logs.configure_logging); uvicorn adds no handlers
        # of its own and no access log: the API's access-log middleware writes one redacted record per request.
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    finally:
        scheduler.stop()
        if workers_pool is not None:
            workers_pool.stop()
        db.close()
        stop_embedded()
