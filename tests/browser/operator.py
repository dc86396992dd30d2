"""What an operator does to a running local stack: `deploy.py` verbs against its database and data directory."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.browser.conftest import ROOT, Stack


def deploy(stack: Stack, *args: str) -> str:
    """Run `python deploy.py ARGS` as an operator would against `stack`; returns what it printed."""
    env = {k: v for k, v in os.environ.items() if k not in ("SUPABASE_URL", "SUPABASE_JWT_SECRET")}
    env.update({"ATELIER_ENV": "local", "DATABASE_URL": stack.database_url(), "ATELIER_DATA_DIR": str(stack.data_dir)})
    done = subprocess.run(
        [sys.executable, "deploy.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"deploy.py {' '.join(args)} failed: {done.stdout}{done.stderr}"
    return done.stdout
