"""The `reconcile-jobs` task: no job stays queued or running forever, and no committed job is left undispatched.

Running jobs whose worker stopped beating for a minute (it died mid-job) are failed with `worker_lost`,
and jobs past their deadline (a worker that never started) with `timeout`; their held credits are voided
in the same transaction. Queued jobs whose dispatch was lost (the API crashed
between commit and dispatch) are dispatched again. Rows are claimed with FOR UPDATE SKIP LOCKED in
small batches, so overlapping runs never touch the same job and no lock is held for long.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.jobs import repo
from shared.jobs import service as jobs
from shared.jobs.dispatcher import Dispatcher
from shared.jobs.heartbeat import STALE_AFTER
from shared.kit.db import Database

log = logging.getLogger("atelier.jobs")

BATCH = 100
DISPATCH_GRACE = timedelta(seconds=60)  # the API dispatches right after commit; give it this long first


def fail_overdue(db: Database, *, now: datetime, batch: int = BATCH) -> int:
    """Fail every unfinished job past its deadline, returning its credits; batch by batch until none is left."""
    failed = 0
    while True:
        with db.transaction() as conn:
            count = jobs.fail_overdue(conn, now=now, limit=batch)
        failed += count
        if count < batch:
            return failed


def fail_stale(db: Database, *, now: datetime, batch: int = BATCH) -> int:
    """Fail every running job whose heartbeat is older than `STALE_AFTER`, returning its credits."""
    failed = 0
    while True:
        with db.transaction() as conn:
            count = jobs.fail_stale(conn, beat_before=now - STALE_AFTER, limit=batch)
        failed += count
        if count < batch:
            return failed


def redispatch(db: Database, dispatcher: Dispatcher, *, now: datetime, batch: int = BATCH) -> int:
    """Dispatch queued jobs that were committed but never handed to a worker."""
    with db.transaction() as conn:
        waiting = repo.undispatched(conn, older_than=now - DISPATCH_GRACE, limit=batch)
        sent = 0
        for job_id, model in waiting:
            try:
                dispatcher.dispatch(job_id, model)
            except Exception:  # left undispatched; the next run tries again, the deadline bounds it
                log.exception("re-dispatch failed", extra={"job_id": str(job_id)})
                continue
            repo.mark_dispatched(conn, job_id)
            sent += 1
    return sent


def reconcile(db: Database, dispatcher: Dispatcher, *, now: datetime) -> int:
    """One run of the task: jobs failed plus jobs re-dispatched."""
    return fail_overdue(db, now=now) + fail_stale(db, now=now) + redispatch(db, dispatcher, now=now)
