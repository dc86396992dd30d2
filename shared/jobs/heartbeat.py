"""A running job's heartbeat: proof its worker is alive, so a dead worker's job is failed within a minute.

The worker touches `jobs.heartbeat_at` when it claims a job, with every progress report, and from a small
background thread while it works (a cold model load or one long step reports no progress). The reconciler
fails a running job whose heartbeat is older than `STALE_AFTER` and returns its credits, instead of
waiting for the job's deadline.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from types import TracebackType
from uuid import UUID

from shared.jobs import repo
from shared.kit.db import Database

log = logging.getLogger("atelier.jobs")

BEAT_EVERY_SECONDS = 15.0
STALE_AFTER = timedelta(seconds=60)  # four missed beats: the worker (process, container) is gone


class Heartbeat:
    """`with Heartbeat(db, job_id):` touches the job every `every` seconds until the block ends."""

    def __init__(self, db: Database, job_id: UUID, every: float = BEAT_EVERY_SECONDS) -> None:
        self.db, self.job_id, self.every = db, job_id, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.db.transaction() as conn:
                    if not repo.touch_heartbeat(conn, self.job_id):
                        return  # finished (or failed by the reconciler): nothing left to keep alive
            except Exception as exc:  # the database may blip; the next beat tries again
                log.warning("heartbeat failed: %s", type(exc).__name__, extra={"job_id": str(self.job_id)})
