"""The one seam between committing a job and running it: in-process threads locally, Modal spawn in production."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class Dispatcher(Protocol):
    def dispatch(self, job_id: UUID, model: str) -> None:
        """Start the job somewhere; must not block on the render. Losing a dispatch is allowed:
        the reconciler re-dispatches queued jobs that were never marked dispatched."""


class QueueOnly:
    """Leaves jobs queued (`deploy.py local --workers 0`, and API tests that drive the worker themselves)."""

    def dispatch(self, job_id: UUID, model: str) -> None:
        return None
