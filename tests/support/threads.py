"""Run functions at once in threads, released together by a barrier: the races the concurrency tests stage."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_together(*fns: Callable[[], Any], timeout: float | None = None) -> list[Any]:
    """Each function in its own thread, all started at the same moment; their results in order. Fails if one
    raises, or (with `timeout`) if one is still running after it: a run that waited on another transaction."""
    results: list[Any] = [None] * len(fns)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(fns))

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fns[i]()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=timeout is not None) for i in range(len(fns))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a run waited on another transaction"
    assert not errors, errors
    return results
