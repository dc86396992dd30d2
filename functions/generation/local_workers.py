"""The local stack's dispatcher: worker threads in this process running the CPU engine.

Which dispatcher a process uses is chosen in functions/job_routing.py (outside this package, so the API never
imports generation code).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from uuid import UUID

log = logging.getLogger("atelier.dispatch")


class LocalDispatcher:
    """N worker threads that run jobs with the CPU engine (tiny offline models by default)."""

    def __init__(self, run: Callable[[UUID], object], workers: int) -> None:
        if workers < 1:
            raise ValueError("a local dispatcher needs at least one worker; use QueueOnly for none")
        self._run = run
        self._queue: queue.Queue[UUID | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"atelier-worker-{index}", daemon=True) for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def dispatch(self, job_id: UUID, model: str) -> None:
        self._queue.put(job_id)

    def idle(self) -> bool:
        """No job waiting or running (tests wait on this instead of sleeping)."""
        return self._queue.unfinished_tasks == 0

    def join(self) -> None:
        """Block until every dispatched job has finished."""
        self._queue.join()

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            try:
                if job_id is None:
                    return
                self._run(job_id)
            except Exception:  # the runner finishes jobs itself; this only keeps the thread alive
                log.exception("local worker crashed", extra={"job_id": str(job_id)})
            finally:
                self._queue.task_done()
