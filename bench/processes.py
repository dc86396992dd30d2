"""How a bench's own processes end: the local stacks it starts, and the bench itself when told to stop."""

from __future__ import annotations

import signal
import subprocess
import sys


def leave_on_sigterm() -> None:
    """Told to stop (SIGTERM: `kill PID`, `timeout`), leave as Ctrl-C does, through the `finally` blocks that stop
    the servers a bench started and drop its scratch database: by default the process would die and leave them."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def stop_stack(proc: subprocess.Popen[bytes]) -> None:
    """Stop a local stack as Ctrl-C does (it then stops its embedded Postgres); killed when it has not ended in 30 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
