#!/usr/bin/env python3
"""Atelier's one entry point for developers and operators.

python deploy.py local [--host 127.0.0.1] [--port 8000] [--data-dir DIR] [--workers N]
python deploy.py migrate
python deploy.py deploy
python deploy.py token EMAIL
python deploy.py security events [--since 24h|7d|2026-01-31T00:00]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings


def _settings() -> Settings:
    from config.settings import get_settings

    return get_settings()


def cmd_local(args: argparse.Namespace) -> int:
    if args.data_dir:
        os.environ["ATELIER_DATA_DIR"] = str(Path(args.data_dir).resolve())
    from functions.local import run_local

    run_local(_settings(), host=args.host, port=args.port, workers=args.workers)
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from shared.db import migrate
    from shared.db.database import database_url

    applied = migrate(database_url(_settings()))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def cmd_deploy(_: argparse.Namespace) -> int:
    """Migrate the production database, then deploy the Modal App. Needs DATABASE_URL and a Modal token."""
    if not os.environ.get("DATABASE_URL"):
        print("deploy needs DATABASE_URL (the Supabase Postgres) to migrate before deploying", file=sys.stderr)
        return 2
    import modal

    from functions.deployment import app
    from shared.db import migrate

    applied = migrate(os.environ["DATABASE_URL"])
    print(f"applied {len(applied)} migration(s)")
    with modal.enable_output():
        app.deploy()
    print("deployed")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from shared.auth import issue_dev_token

    settings = _settings()
    if settings.is_production:
        print("development tokens are only for the local stack", file=sys.stderr)
        return 2
    print(issue_dev_token(settings, args.email, hours=args.hours))
    return 0


def cmd_task(args: argparse.Namespace) -> int:
    """Run one scheduled task now, list them, or show recent runs."""
    from functions.tasks import TASKS, run_named

    if args.list:
        for task in TASKS.values():
            print(f"{task.name:28} {task.schedule:16} {task.description}")
        return 0
    if args.history:
        from shared.db import open_database
        from shared.tasks.runner import history

        db = open_database(_settings())
        try:
            runs = history(db, task=args.name, limit=args.limit)
        finally:
            db.close()
        for run in runs:
            finished = run.finished_at.isoformat(timespec="seconds") if run.finished_at else "-"
            print(
                f"{run.started_at.isoformat(timespec='seconds')}  {finished:25}  {run.task:28} "
                f"{run.outcome:9} items={run.items}{'  error=' + run.error if run.error else ''}"
            )
        return 0
    if args.name not in TASKS:
        print(f"unknown task {args.name!r}; known: {', '.join(TASKS)}", file=sys.stderr)
        return 2
    run = run_named(args.name)
    print(f"{run.task}: {run.outcome}, {run.items} item(s)")
    return 0 if run.outcome == "succeeded" else 1


def _since(text: str) -> datetime:
    """`24h`, `7d`, `30m` back from now, or an ISO date/time (UTC when no offset is given)."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if text[:-1].isdigit() and text[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a duration (24h, 7d) or ISO time: {text!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_security(args: argparse.Namespace) -> int:
    """List security events (repeated auth failures / access denials), newest first. Subjects are hashes."""
    from shared.db import open_database
    from shared.security.events import list_events

    db = open_database(_settings())
    try:
        events = list_events(db, since=args.since, limit=args.limit)
    finally:
        db.close()
    for event in events:
        details = " ".join(f"{k}={v}" for k, v in sorted(event.details.items()))
        at, start = event.at.isoformat(timespec="seconds"), event.window_start.isoformat(timespec="seconds")
        print(
            f"{at}  {event.kind:14} {event.subject_kind:8} {event.subject_ref[:16]}  "
            f"count={event.count} window={event.window_seconds}s from {start}  {details}"
        )
    print(f"{len(events)} event(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploy.py", description="Run, migrate and deploy Atelier.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    local = verbs.add_parser("local", help="run the whole stack on this machine")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int, default=8000)
    local.add_argument("--data-dir", help="where local state lives (default: ATELIER_DATA_DIR or .data)")
    local.add_argument("--workers", type=int, default=1, help="in-process generation workers; 0 leaves jobs queued")
    local.set_defaults(run=cmd_local)

    verbs.add_parser(
        "migrate", help="apply pending migrations to DATABASE_URL (or the embedded Postgres)"
    ).set_defaults(run=cmd_migrate)
    verbs.add_parser("deploy", help="migrate DATABASE_URL, then deploy the Modal App").set_defaults(run=cmd_deploy)

    token = verbs.add_parser("token", help="print an access token the local stack accepts")
    token.add_argument("email")
    token.add_argument("--hours", type=int, default=24)
    token.set_defaults(run=cmd_token)

    task = verbs.add_parser("task", help="run a scheduled task now, list tasks, or show run history")
    task.add_argument("name", nargs="?", help="the task to run now (see --list)")
    task.add_argument("--list", action="store_true", help="name every task with its schedule")
    task.add_argument("--history", action="store_true", help="recent runs (of NAME, or of all tasks)")
    task.add_argument("--limit", type=int, default=50)
    task.set_defaults(run=cmd_task)

    security = verbs.add_parser("security", help="security monitoring")
    security_verbs = security.add_subparsers(dest="security_verb", required=True)
    events = security_verbs.add_parser("events", help="list security events (repeated 401s, denials)")
    events.add_argument("--since", type=_since, default=None, help="24h, 7d, 30m, or an ISO time (default: all)")
    events.add_argument("--limit", type=int, default=200)
    events.set_defaults(run=cmd_security)
    return parser


def main(argv: list[str] | None = None) -> int:
    from shared.logs import configure_logging

    configure_logging(logging.INFO)  # JSON lines through the one redaction filter
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
