"""The local stack: the same API under uvicorn, the embedded Postgres, an in-process worker and a scheduler."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

import uvicorn

from config.settings import Settings
from functions import job_routing
from functions.api.app import create_app
from functions.generation.local_workers import LocalDispatcher
from functions.server import server_config
from functions.static_site import build_site
from functions.tasks import TASKS
from shared.kit.db import Database, migrate
from shared.kit.db.database import database_url
from shared.kit.db.embedded import stop_embedded
from shared.media.decoding import limit_arenas
from shared.tasks.runner import TaskDef
from shared.tasks.schedule import Claim, claim_due, run_claimed

log = logging.getLogger("atelier.local")


class LocalScheduler:
    """The local stack's ticker: each second it claims the registry's due tasks (shared/tasks/schedule.py, the same
    rule as the Modal tick) and runs each claimed one in a thread of its own, so a slow task delays no other."""

    def __init__(self, db: Database, tasks: list[TaskDef], *, tick_seconds: float = 1.0) -> None:
        self.db = db
        self.tasks = tasks
        self.tick_seconds = tick_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="atelier-scheduler", daemon=True)
        self._runs: list[threading.Thread] = []

    def start(self) -> None:
        if self.tasks:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        for run in self._runs:
            run.join(timeout=30)

    def _loop(self) -> None:
        by_name = {task.name: task for task in self.tasks}
        while not self._stop.is_set():
            try:
                claims = claim_due(self.db, self.tasks, now=datetime.now(UTC))
            except Exception:  # the database may be briefly unreachable; the next tick retries
                log.exception("scheduled tasks could not be claimed")
                claims = []
            self._runs = [run for run in self._runs if run.is_alive()]
            for claim in claims:
                run = threading.Thread(
                    target=self._run, args=(by_name[claim.task], claim), name=f"atelier-task-{claim.task}", daemon=True
                )
                run.start()
                self._runs.append(run)
            self._stop.wait(self.tick_seconds)

    def _run(self, task: TaskDef, claim: Claim) -> None:
        try:
            run_claimed(self.db, task, claim)
        except Exception:  # recorded by the runner when it got that far; the lease is released either way
            log.exception("scheduled task could not run", extra={"task": task.name})


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
    job_routing.use(pool)
    return pool


def stop_on_sigterm() -> None:
    """Let SIGTERM end the process through Python, as Ctrl-C does, so every `finally` runs (the embedded Postgres is
    stopped). uvicorn handles both signals while serving and re-raises them after its graceful shutdown: SIGINT
    then becomes KeyboardInterrupt, and without this SIGTERM would kill the process on the spot."""

    def exit_cleanly(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, exit_cleanly)


def run_local(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Start everything, serve until Ctrl-C or SIGTERM, then stop everything; a second start reuses the data."""
    stop_on_sigterm()
    try:
        _serve(settings, host=host, port=port, workers=workers)
    finally:
        stop_embedded()


def _serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    limit_arenas()  # before the pool, the workers and the server start their threads (shared/media/decoding.py)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url(settings)
    applied = migrate(url)
    log.info("database ready", extra={"migrations_applied": len(applied)})
    db = Database(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max).open()
    workers_pool = start_workers(settings, db, workers)
    scheduler = LocalScheduler(db, scheduled_tasks())
    scheduler.start()
    try:
        app = create_app(settings, db, warm_up=True)  # /healthz is 503 `not_ready` until the classifier loads
        # The studio web app at /, next to the API (same origin, so it needs no CORS); API routes match first.
        app.mount("/", build_site(settings), name="web")
        # Logging is configured by the caller (deploy.py: shared.logs.configure_logging); uvicorn adds no handlers
        # of its own and no access log: the API's access-log middleware writes one redacted record per request.
        server = uvicorn.Server(server_config(app, host=host, port=port, read_timeout=settings.read_timeout_seconds))
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after its graceful shutdown
            server.run()
    finally:
        scheduler.stop()
        if workers_pool is not None:
            workers_pool.stop()
        db.close()
