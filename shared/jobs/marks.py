"""Dispatch marks, written in batches off the request path.

A job's dispatch mark (`jobs.dispatched_at`) tells the reconciler that the job was handed to a worker, so that it
does not dispatch it again (it re-dispatches queued jobs left unmarked for `reconcile.DISPATCH_GRACE`, 60 s). It is
a hint, never a rule: a mark lost (a crash, the database unreachable) costs at most a second dispatch of a job still
queued a minute later, which the worker's claim turns away, and a mark that comes after the claim changes nothing
(it marks queued jobs only). So `POST /v1/jobs` need not wait for it: it hands the id to `DispatchMarks.add` and
answers, and a thread writes the ids added meanwhile in one statement: one round trip and one transaction (committed
without waiting for the disk, as a mark alone was) for every job admitted in `linger` seconds, where each admission
paid its own after the dispatch (a pooled connection, a round trip, a transaction).
"""

from __future__ import annotations

import logging
import threading
from uuid import UUID

from shared.jobs import service as jobs
from shared.kit.db import Database

log = logging.getLogger("atelier.jobs")

LINGER_SECONDS = 0.05  # how long the first mark of a batch waits for others: far inside the reconciler's 60 s
BATCH = 1000  # ids per statement at most
WAIT_SECONDS = 5.0  # for a pooled connection; then the batch is dropped (a shutdown does not wait out the pool's 30 s)


class DispatchMarks:
    """Marks jobs dispatched in batches: `add` returns at once; a thread (started on the first `add`) writes what
    was added, `linger` seconds after the first of a batch. `linger=None`: nothing is written until `flush` (tests
    that count a request's round trips). `close` writes what is left and stops the thread; an `add` after it
    writes at once."""

    def __init__(self, db: Database, *, linger: float | None = LINGER_SECONDS) -> None:
        self._db = db
        self._linger = linger
        self._pending: list[UUID] = []
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None
        self._closed = False

    def add(self, job_id: UUID) -> None:
        with self._changed:
            self._pending.append(job_id)
            closed = self._closed
            if not closed and self._linger is not None:
                if self._writer is None:
                    self._writer = threading.Thread(target=self._run, name="dispatch-marks", daemon=True)
                    self._writer.start()
                self._changed.notify()
        if closed:
            self.flush()

    def flush(self) -> int:
        """Write every mark added so far, in the calling thread; how many. A batch that fails is logged and
        dropped (the reconciler's grace covers it)."""
        with self._changed:
            ids, self._pending = self._pending, []
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            try:
                with self._db.autocommit(timeout=WAIT_SECONDS) as conn:
                    jobs.mark_dispatched(conn, batch)
            except Exception:  # a lost mark is a second dispatch at worst, and the thread must go on
                log.warning("dispatch marks not written", extra={"jobs": len(batch)}, exc_info=True)
        return len(ids)

    def close(self) -> None:
        """Stop the thread and write what is left (the app's shutdown)."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            writer = self._writer
        if writer is not None:
            writer.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        linger = self._linger or 0.0
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pending) or self._closed)
                if self._closed:
                    return  # close() writes the rest
                # Let the marks of the requests in flight join this batch; a close cuts the wait short.
                self._changed.wait_for(lambda: self._closed, timeout=linger)
            self.flush()
