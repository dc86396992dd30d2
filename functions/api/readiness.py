"""Whether this process has done its start-up work, for `/healthz`.

A serving process (the local stack, the API on Modal) loads the image classifier before it says it is ready: on
a fresh data folder the first uploads otherwise waited for the tiny model to be built, or (six at once) failed
with 503 `moderation_unavailable`. Where webhooks are on it first imports polar-sdk and builds its payload loaders
(the first delivery after a start took ~2.4 s, and concurrent ones queued behind it). The work runs in a thread of
its own, so `/healthz` can answer 503 `not_ready`
meanwhile instead of refusing connections; apps built without `warm=True` (tests, benchmarks) are ready at once.
A failure is logged by class and the process becomes ready anyway: each image then fails closed on its own, with
its own log line, rather than the whole process never starting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("atelier.startup")


class Readiness:
    def __init__(self) -> None:
        self._done = threading.Event()
        self.failure: str | None = None  # the error class of a failed start-up step, if one failed

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def mark_ready(self) -> None:
        self._done.set()

    def start(self, steps: dict[str, Callable[[], None]]) -> threading.Thread:
        """Run each named step in a background thread, then say ready."""

        def run() -> None:
            for name, step in steps.items():
                started = time.perf_counter()
                try:
                    step()
                except Exception as exc:  # logged by class only; the process still serves (images fail closed)
                    self.failure = type(exc).__name__
                    log.error("start-up step failed", extra={"step": name, "error_class": self.failure})
                else:
                    log.info(
                        "start-up step done",
                        extra={"step": name, "seconds": round(time.perf_counter() - started, 2)},
                    )
            self.mark_ready()

        thread = threading.Thread(target=run, name="atelier-startup", daemon=True)
        thread.start()
        return thread
