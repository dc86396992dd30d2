#!/usr/bin/env python3
"""Atelier's one entry point for developers and operators.

python deploy.py local [--host 127.0.0.1] [--port 8000] [--data-dir DIR] [--workers N]
python deploy.py migrate
python deploy.py deploy
python deploy.py token EMAIL
python deploy.py policy publish FILE --kind privacy|terms [--material] [--effective-at ISO]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
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

    from functions.modal_app import app
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


def cmd_policy_publish(args: argparse.Namespace) -> int:
    """Publish a policy version and queue one notice and one email per user (idempotent per version and user)."""
    from datetime import datetime

    from shared.db import open_database
    from shared.policies.service import publish

    text = Path(args.file).read_text(encoding="utf-8")
    effective_at = datetime.fromisoformat(args.effective_at) if args.effective_at else None
    if effective_at is not None and effective_at.tzinfo is None:
        print("--effective-at needs a time zone, e.g. 2026-12-01T00:00:00+00:00", file=sys.stderr)
        return 2
    db = open_database(_settings())
    try:
        result = publish(db, text, kind=args.kind, material=args.material, effective_at=effective_at)
    finally:
        db.close()
    state = "published" if result.created else "already the latest version; fan-out resumed for"
    print(
        f"{state} {result.policy.kind} v{result.policy.version} (material={result.policy.material}, "
        f"sha256={result.policy.text_sha256}): {result.notices_created} notice(s), {result.emails_queued} email(s)"
    )
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

    policy = verbs.add_parser("policy", help="policy versions").add_subparsers(dest="policy_verb", required=True)
    publish = policy.add_parser("publish", help="publish a policy text as a new version and notify every user")
    publish.add_argument("file")
    publish.add_argument("--kind", choices=["privacy", "terms"], required=True)
    publish.add_argument("--material", action="store_true", help="users must accept it before continuing")
    publish.add_argument("--effective-at", help="ISO time with zone (default: now)")
    publish.set_defaults(run=cmd_policy_publish)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
