#!/usr/bin/env python3
"""Atelier's one entry point for developers and operators.

python deploy.py local [--host 127.0.0.1] [--port 8000] [--data-dir DIR] [--workers N]
python deploy.py migrate
python deploy.py deploy                 # needs DATABASE_URL, SUPABASE_URL, SUPABASE_SECRET_KEY and a Modal token
python deploy.py task NAME | --list | --history [NAME]
python deploy.py weights [--model ID ...] [--update ID ...] [--ephemeral]
python deploy.py token EMAIL [--data-dir DIR] [--hours N]
python deploy.py credits grant EMAIL AMOUNT --reason TEXT [--ref REF] [--expires-days N]
python deploy.py policy publish FILE --kind privacy|terms [--material] [--effective-at ISO]
python deploy.py billing unmatched [--status unmatched|unparsed|failed|ignored] [--limit N]

python deploy.py security events [--since 24h|7d|2026-01-31T00:00]
python deploy.py privacy requests [--overdue] [--status open|completed|refused|withdrawn] [--limit N]
python deploy.py privacy log-request EMAIL --kind KIND [--received ISO] [--reference REF]
python deploy.py privacy extend ID --reason TEXT
python deploy.py privacy complete ID | refuse ID
python deploy.py support list [--open] [--limit N]
python deploy.py support show ID|REFERENCE
python deploy.py support reply ID|REFERENCE --file reply.md [--close]
python deploy.py provenance verify FILE
python deploy.py moderation queue [--limit N]
python deploy.py moderation takedown MEDIA_ID --reason TEXT | restore MEDIA_ID
python deploy.py moderation suspend EMAIL --reason TEXT | unsuspend EMAIL
python deploy.py dataset build [--version NAME] | list | export VERSION DIR

Every verb that opens the database takes `--data-dir DIR`, as `local` and `token` do: with no DATABASE_URL it works
on the embedded Postgres (and local storage) of the stack started with `deploy.py local --data-dir DIR`.
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
from uuid import UUID

if TYPE_CHECKING:
    from config.models import ModelEntry
    from config.settings import Settings
    from shared.accounts.models import Account
    from shared.kit.db.database import Connection
    from shared.privacy.requests import PrivacyRequest
    from shared.weights import Lockable, Locked


def _settings() -> Settings:
    from config.settings import get_settings

    return get_settings()


def _by_email(conn: Connection, email: str) -> Account:
    """The one account with this address (any case). Every verb that takes an EMAIL finds it here, so an unknown
    or shared address is refused the same way by each; the address itself is never printed or stored."""
    from shared.accounts.repo import find_by_email
    from shared.kit.errors import BadRequest, NotFound

    matches = find_by_email(conn, email)
    if not matches:
        raise NotFound("No account has this email.", code="account_not_found")
    if len(matches) > 1:
        raise BadRequest("Several accounts share this email.", code="ambiguous_email")
    return matches[0]


def _in_transaction(work: Callable[[Connection], str | None]) -> int:
    """Open the database, run `work` in one transaction, close; print what it answers once committed (a listing
    prints its own lines and answers None). A refusal prints its code and message: exit 2."""
    from shared.kit.db import open_database
    from shared.kit.errors import AtelierError

    db = open_database(_settings())
    try:
        with db.transaction() as conn:
            said = work(conn)
    except AtelierError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 2
    finally:
        db.close()
    if said is not None:
        print(said)
    return 0


def _an_id(refusal: str) -> Callable[[str], UUID]:
    """An argparse type for a verb's id argument: a malformed one is refused with `refusal` (exit 2, with the
    verb's usage) before the database is opened."""

    def parse(text: str) -> UUID:
        try:
            return UUID(text)
        except ValueError:
            raise argparse.ArgumentTypeError(refusal) from None

    return parse


def _on_account(email: str, action: Callable[[Connection, Account], str]) -> int:
    """Find the account with this email and run `action` on it in one transaction (`_in_transaction`): print what
    the action answers, or the refusal's code and message (exit 2)."""
    return _in_transaction(lambda conn: action(conn, _by_email(conn, email)))


def cmd_local(args: argparse.Namespace) -> int:
    from functions.local import run_local

    settings = _settings()
    if settings.storage_kind == "supabase":  # the same check as deploy: a missing bucket made private, public refused
        if not settings.supabase_url or not settings.supabase_secret_key:
            print("local refused: ATELIER_STORAGE=supabase needs SUPABASE_URL and SUPABASE_SECRET_KEY", file=sys.stderr)
            return 2
        if not _bucket_checked("local", settings, settings.supabase_url, settings.supabase_secret_key):
            return 2
    run_local(settings, host=args.host, port=args.port, workers=args.workers)
    return 0


def _bucket_checked(verb: str, settings: Settings, url: str, secret_key: str) -> bool:
    """Check the Storage bucket (created private when missing, refused when public or unreadable) and say so."""
    from shared.media.bucket import BucketRefused, ensure_private_bucket

    try:
        state = ensure_private_bucket(url, secret_key, settings.storage_bucket, timeout=settings.http_timeout_seconds)
    except BucketRefused as exc:
        print(f"{verb} refused: {exc}", file=sys.stderr)
        return False
    print(f"storage bucket {settings.storage_bucket!r}: {'created, private' if state == 'created' else 'private'}")
    return True


def cmd_migrate(_: argparse.Namespace) -> int:
    from shared.kit.db import migrate
    from shared.kit.db.database import database_url

    applied = migrate(database_url(_settings()))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


DEPLOY_NEEDS = ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_SECRET_KEY")


def cmd_deploy(_: argparse.Namespace) -> int:
    """Check, migrate, then deploy the Modal App: the offered models and the image classifier pinned or locked on the
    weights volume, the
    Storage bucket private (created when missing), migrations applied. Needs DEPLOY_NEEDS and a Modal token."""
    missing = [name for name in DEPLOY_NEEDS if not os.environ.get(name)]
    if missing:
        print(
            f"deploy needs {', '.join(missing)} (the values of the atelier-production secret): it migrates the "
            "database and checks the Storage bucket before deploying",
            file=sys.stderr,
        )
        return 2
    from config.connections import over_budget
    from config.models import offered_models
    from functions.job_routing import gpu_containers
    from shared.kit.db import migrate

    settings = _settings()
    try:
        offered = offered_models(settings)
    except ValueError as exc:
        print(f"deploy refused: {exc}", file=sys.stderr)
        return 2
    too_many = over_budget(settings, gpu_containers())
    if too_many is not None:
        print(f"deploy refused: {too_many}", file=sys.stderr)
        return 2
    if not _privacy_checked(settings) or not _catalogue_checked(settings):
        return 2
    applied = migrate(os.environ["DATABASE_URL"])
    print(f"applied {len(applied)} migration(s)")
    if not _bucket_checked("deploy", settings, os.environ["SUPABASE_URL"], os.environ["SUPABASE_SECRET_KEY"]):
        return 2
    return _deploy_app(offered)


def _privacy_checked(settings: Settings) -> bool:
    unset = settings.privacy_settings_missing()
    if unset:
        print(
            f"deploy refused: the privacy policy names the controller, the supervisory authority and where each "
            f"processor keeps data; set {', '.join(unset)} (see docs/operating.md)",
            file=sys.stderr,
        )
    return not unset


def _catalogue_checked(settings: Settings) -> bool:
    """The product catalogue against Polar: every id real (no `00000000-…` placeholder), every price the pages show
    the one Polar charges (`products.get` per product). Without POLAR_ACCESS_TOKEN billing is off and nothing is
    sold: the check is skipped, and says so."""
    from shared.billing.catalogue import CatalogueError, load_catalogue
    from shared.billing.polar_api import catalogue_problems, polar_client

    if not settings.polar_access_token:
        print("product catalogue: not checked against Polar (POLAR_ACCESS_TOKEN is unset: billing is off)")
        return True
    try:
        catalogue = load_catalogue(settings.products_file)
    except CatalogueError as exc:
        print(f"deploy refused: {exc}", file=sys.stderr)
        return False
    with polar_client(settings) as client:
        problems = catalogue_problems(client, catalogue)
    for problem in problems:
        print(f"deploy refused: product {problem}", file=sys.stderr)
    if not problems:
        print(f"product catalogue: {len(catalogue.products)} product(s), ids and prices as Polar has them")
    return not problems


def _deploy_app(offered: tuple[ModelEntry, ...]) -> int:
    """The Modal part: read the weights lock when a model names a branch, refuse what is neither pinned nor
    locked, then build and deploy the App (functions/deployment.py registers every function on it)."""
    import modal

    from config.moderation import IMAGE_CLASSIFIER
    from functions.deployment import app
    from functions.job_routing import APP_NAME
    from shared.weights import refusal

    # Every output, upload and publication is judged by the image classifier: no deploy without its weights.
    needed: tuple[Lockable, ...] = (*offered, IMAGE_CLASSIFIER)
    print(f"building the Modal App {APP_NAME!r}")
    try:
        locks = _volume_lock() if any(not entry.pinned for entry in needed) else {}
        reason = refusal(needed, locks)
        if reason is not None:
            print(f"deploy refused: {reason}", file=sys.stderr)
            return 2
        with modal.enable_output():
            app.deploy()
    except modal.exception.ConnectionError as exc:
        print(f"Modal is unreachable ({exc}); nothing was deployed", file=sys.stderr)
        return 1
    print("deployed")
    return 0


def _volume_lock() -> dict[str, Locked]:
    """The weights lock as the volume holds it (empty before the first `deploy.py weights`)."""
    from functions.modal_app import weights_volume
    from shared.weights import LOCK_FILE, parse_lock

    try:
        data = b"".join(weights_volume.read_file(LOCK_FILE))
    except FileNotFoundError:
        return {}
    return parse_lock(data.decode("utf-8"))


def cmd_weights(args: argparse.Namespace) -> int:
    """Fill the weights volume and lock what it holds, running `download_weights` on Modal (no GPU).

    Each model's commit: pinned in config/models.py, else the one locked on the volume, else its branch's newest
    (then locked); `--update MODEL` moves a locked model to its branch's newest commit. By default it calls the
    deployed function (`modal.Function.from_name`); `--ephemeral` runs it in a temporary app (`app.run()`), e.g.
    before the first deploy. HF_TOKEN from the environment, when set, reaches the call as an ephemeral Modal Secret
    (for the gated FLUX.1 [dev] repositories), never as an argument, which Modal would keep with the call's inputs.
    """
    import modal

    from functions.job_routing import APP_NAME
    from functions.modal_app import app
    from shared.weights import select_for_download  # the generation models and the image classifier

    try:
        entries = select_for_download([*(args.model or ()), *(args.update or ())] or None)
    except ValueError as exc:
        print(f"weights refused: {exc}", file=sys.stderr)
        return 2
    pinned_updates = [entry.id for entry in entries if entry.pinned and entry.id in (args.update or ())]
    if pinned_updates:
        print(
            f"weights refused: pinned in config/models.py, change them there: {', '.join(pinned_updates)}",
            file=sys.stderr,
        )
        return 2
    ids = [entry.id for entry in entries]
    token = os.environ.get("HF_TOKEN") or None
    secrets = [modal.Secret.from_dict({"HF_TOKEN": token})] if token else []
    print(f"downloading {len(ids)} model(s) to the weights volume: {', '.join(ids)}")
    with modal.enable_output():
        if args.ephemeral:
            from functions.generation.gpu import download_weights

            with app.run():
                lock = (download_weights.with_options(secrets=secrets) if secrets else download_weights).remote(
                    args.model, args.update
                )
        else:
            deployed = modal.Function.from_name(APP_NAME, "download_weights")
            lock = (deployed.with_options(secrets=secrets) if secrets else deployed).remote(args.model, args.update)
    print("weights lock (weights.lock.json on the volume):")
    for model_id, locked in sorted(lock.items()):
        print(f"  {model_id:20} {locked['repo']}@{locked['requested']} = {locked['commit']}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """A dev token signed with the key of the data folder the local stack uses (`--data-dir`, as for `local`)."""
    from shared.auth import issue_dev_token

    settings = _settings()
    if settings.is_production:
        print("development tokens are only for the local stack", file=sys.stderr)
        return 2
    print(issue_dev_token(settings, args.email, hours=args.hours))
    return 0


def cmd_task(args: argparse.Namespace) -> int:
    """Run one scheduled task now, list them, or show recent runs."""
    from functions.tasks import TASKS, TaskBusy, run_named

    if args.list:
        from shared.kit.db import open_database
        from shared.tasks.runner import last_runs

        db = open_database(_settings())
        try:
            last = last_runs(db)
        finally:
            db.close()
        print(f"{'task':28} {'schedule (UTC)':16} {'last run':34} does")
        for task in TASKS.values():
            run = last.get(task.name)
            ran = f"{run.started_at.isoformat(timespec='seconds')} {run.outcome}" if run else "never"
            print(f"{task.name:28} {task.schedule:16} {ran:34} {task.description}")
        return 0
    if args.history:
        from shared.kit.db import open_database
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
    try:
        run = run_named(args.name)
    except TaskBusy as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"{run.task}: {run.outcome}, {run.items} item(s)")
    return 0 if run.outcome == "succeeded" else 1


def cmd_credits_grant(args: argparse.Namespace) -> int:
    """An audited `adjustment` grant to the account with this email."""
    from shared.lifecycle.operator_grants import grant_adjustment

    expires_at = datetime.now(UTC) + timedelta(days=args.expires_days) if args.expires_days else None

    def grant(conn: Connection, account: Account) -> str:
        granted = grant_adjustment(
            conn, email=args.email, amount=args.amount, reason=args.reason, ref=args.ref, expires_at=expires_at
        )
        return f"granted {granted.amount} credits (grant {granted.id}, account {granted.user_id})"

    return _on_account(args.email, grant)


def cmd_policy_publish(args: argparse.Namespace) -> int:
    """Publish a policy version and queue one notice and one email per user (idempotent per version and user).

    Without FILE the text shipped in config/policies/ is published (its summary too unless --summary says
    otherwise); either text is rendered with this deployment's settings and tables first."""
    from datetime import datetime

    from config.policies import SHIPPED_SUMMARY, render_text, template
    from shared.kit.db import open_database
    from shared.notify.policy_update import publish

    source = Path(args.file).read_text(encoding="utf-8") if args.file else template(args.kind)
    try:
        text = render_text(source, kind=args.kind, settings=_settings())
    except ValueError as exc:
        print(f"policy refused: {exc}", file=sys.stderr)
        return 2
    summary = args.summary if args.summary is not None else (None if args.file else SHIPPED_SUMMARY[args.kind])
    effective_at = datetime.fromisoformat(args.effective_at) if args.effective_at else None
    if effective_at is not None and effective_at.tzinfo is None:
        print("--effective-at needs a time zone, e.g. 2026-12-01T00:00:00+00:00", file=sys.stderr)
        return 2
    db = open_database(_settings())
    try:
        result = publish(db, text, kind=args.kind, material=args.material, effective_at=effective_at, summary=summary)
    finally:
        db.close()
    state = "published" if result.created else "already the latest version; fan-out resumed for"
    print(
        f"{state} {result.policy.kind} v{result.policy.version} (material={result.policy.material}, "
        f"sha256={result.policy.text_sha256}): {result.notices_created} notice(s), {result.emails_queued} email(s)"
    )
    return 0


def cmd_billing_unmatched(args: argparse.Namespace) -> int:
    """Polar deliveries waiting for an account (or in another status): ids, types and notes only."""
    from shared.billing.service import list_inbox
    from shared.kit.db import open_database

    db = open_database(_settings())
    try:
        with db.transaction() as conn:
            rows = list_inbox(conn, status=args.status, limit=args.limit)
    finally:
        db.close()
    for row in rows:
        print(
            f"{row['received_at']:%Y-%m-%d %H:%M:%S}  {row['webhook_id']}  {row['event_type']}  "
            f"object={row['object_id']}  attempts={row['attempts']}  {row['note'] or ''}".rstrip()
        )
    print(f"{len(rows)} {args.status} deliver{'y' if len(rows) == 1 else 'ies'}")
    return 0


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
    from shared.kit.db import open_database
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


def _request_line(request: PrivacyRequest) -> str:
    late = "  OVERDUE" if request.overdue(datetime.now(UTC)) else ""
    extended = "  extended" if request.extended_at else ""
    return (
        f"{request.id}  {request.kind:13} {request.source:8} {request.status:9} "
        f"received {request.received_at:%Y-%m-%d}  due {request.due_at:%Y-%m-%d}{extended}{late}"
    )


def _print_request(request: PrivacyRequest) -> None:
    print(_request_line(request))


def cmd_privacy(args: argparse.Namespace) -> int:
    """The rights-requests register: list (overdue), log an emailed request, extend once, complete, refuse."""

    from shared.privacy import requests

    now = datetime.now(UTC)
    if args.privacy_verb == "log-request":
        received = _since(args.received) if args.received else now

        def log(conn: Connection, _: Account) -> str:
            request = requests.log_operator_request(
                conn, email=args.email, kind=args.kind, received_at=received, reference=args.reference
            )
            return _request_line(request)

        return _on_account(args.email, log)

    def register(conn: Connection) -> str | None:
        if args.privacy_verb == "requests":
            found = requests.list_requests(conn, now=now, overdue=args.overdue, status=args.status, limit=args.limit)
            for request in found:
                _print_request(request)
            print(f"{len(found)} request(s){' overdue' if args.overdue else ''}")
            return None
        if args.privacy_verb == "extend":
            request = requests.extend_request(conn, args.id, reason=args.reason, now=now)
        elif args.privacy_verb == "complete":
            request = requests.complete_request(conn, args.id, now=now, actor="operator")
        else:
            request = requests.refuse_request(conn, args.id, now=now)
        return _request_line(request)

    return _in_transaction(register)


def _add_privacy_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from shared.privacy.requests import KINDS, STATUSES

    privacy = verbs.add_parser("privacy", help="the register of privacy-rights requests")
    privacy_verbs = privacy.add_subparsers(dest="privacy_verb", required=True)
    listing = privacy_verbs.add_parser("requests", help="list requests, soonest due first")
    listing.add_argument("--overdue", action="store_true", help="only open requests past their deadline")
    listing.add_argument("--status", choices=STATUSES, default=None)
    listing.add_argument("--limit", type=int, default=500)
    log_request = privacy_verbs.add_parser("log-request", help="register a request received by email")
    log_request.add_argument("email", help="the account's address (used to find it, not stored)")
    log_request.add_argument("--kind", choices=KINDS, required=True)
    log_request.add_argument("--received", help="when it arrived: ISO time (default: now)")
    log_request.add_argument("--reference", help="your mailbox or ticket reference (no personal data)")
    extend = privacy_verbs.add_parser("extend", help="extend a deadline once, to three months after receipt")
    request_id = _an_id("ID must be a request's id (a UUID, as `privacy requests` prints it)")
    extend.add_argument("id", type=request_id)
    extend.add_argument("--reason", required=True)
    for verb in ("complete", "refuse"):
        privacy_verbs.add_parser(verb, help=f"{verb} a request").add_argument("id", type=request_id)
    for verb_parser in privacy_verbs.choices.values():
        verb_parser.set_defaults(run=cmd_privacy)


def cmd_support(args: argparse.Namespace) -> int:
    """The support inbox: list tickets, read one, answer it (emailed to the person). Text goes to this terminal
    only, never to the logs."""
    from shared.kit.db import open_database
    from shared.kit.errors import AtelierError
    from shared.support import operator, reference

    text = Path(args.file).read_text(encoding="utf-8") if args.support_verb == "reply" else ""
    db = open_database(_settings())
    try:
        with db.transaction() as conn:
            if args.support_verb == "list":
                tickets = operator.list_tickets(conn, open_only=args.open, limit=args.limit)
                print("\n".join([*map(operator.summary_line, tickets), f"{len(tickets)} ticket(s)"]))
            elif args.support_verb == "show":
                print(operator.thread_text(*operator.get_ticket(conn, reference.resolve(conn, args.id))))
            else:
                ticket_id = reference.resolve(conn, args.id)
                message_id = operator.reply(conn, ticket_id, text, close=args.close, now=datetime.now(UTC))
                print(f"replied to {args.id} (message {message_id}); the email goes out with deliver-email")
    except (AtelierError, ValueError) as exc:
        print(f"{getattr(exc, 'code', 'invalid_id')}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    finally:
        db.close()
    return 0


def _add_support_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    support = verbs.add_parser("support", help="the support inbox: list, read and answer tickets")
    support_verbs = support.add_subparsers(dest="support_verb", required=True)
    listing = support_verbs.add_parser("list", help="tickets, newest activity first (--open: waiting longest first)")
    listing.add_argument("--open", action="store_true", help="only tickets waiting for an answer")
    listing.add_argument("--limit", type=int, default=100)
    support_verbs.add_parser("show", help="one ticket with its messages").add_argument(
        "id", help="the ticket's id, or the short reference the person quotes"
    )
    reply = support_verbs.add_parser("reply", help="answer a ticket; the person is emailed")
    reply.add_argument("id", help="the ticket's id, or the short reference the person quotes")
    reply.add_argument("--file", required=True, help="the answer (plain text or Markdown), 1-10,000 characters")
    reply.add_argument("--close", action="store_true", help="close the ticket with this answer")
    for verb_parser in support_verbs.choices.values():
        verb_parser.set_defaults(run=cmd_support)


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
    verbs.add_parser(
        "deploy", help="check weights and bucket, migrate DATABASE_URL, then deploy the Modal App"
    ).set_defaults(run=cmd_deploy)

    weights = verbs.add_parser("weights", help="download and lock the model weights on the Modal weights volume")
    weights.add_argument("--model", action="append", help="a registry id (repeatable; default: every model)")
    weights.add_argument(
        "--update", action="append", help="move this locked model to its branch's newest commit (repeatable)"
    )
    weights.add_argument("--ephemeral", action="store_true", help="run in a temporary app instead of the deployed one")
    weights.set_defaults(run=cmd_weights)

    token = verbs.add_parser("token", help="print an access token the local stack accepts")
    token.add_argument("email")
    token.add_argument("--hours", type=int, default=24, help="lifetime, at most 168 (a week, as Supabase allows)")
    token.add_argument("--data-dir", help="the local stack's data folder (default: ATELIER_DATA_DIR or .data)")
    token.set_defaults(run=cmd_token)

    task = verbs.add_parser("task", help="run a scheduled task now, list tasks, or show run history")
    task.add_argument("name", nargs="?", help="the task to run now (see --list)")
    task.add_argument("--list", action="store_true", help="every task with its schedule and last run")
    task.add_argument("--history", action="store_true", help="recent runs (of NAME, or of all tasks)")
    task.add_argument("--limit", type=int, default=50)
    task.set_defaults(run=cmd_task)
    credits = verbs.add_parser("credits", help="operator actions on credits (audited)")
    credit_verbs = credits.add_subparsers(dest="credits_verb", required=True)
    credit_grant = credit_verbs.add_parser("grant", help="grant adjustment credits to the account with EMAIL")
    credit_grant.add_argument("email")
    credit_grant.add_argument("amount", type=int)
    credit_grant.add_argument("--reason", required=True, help="why (kept with the grant, not in the audit log)")
    credit_grant.add_argument("--ref", help="an idempotency reference: the same ref grants once")
    credit_grant.add_argument("--expires-days", type=int, help="expire after N days (default: never)")
    credit_grant.set_defaults(run=cmd_credits_grant)
    _add_operator_verbs(verbs)
    for name, verb_parser in verbs.choices.items():
        if name not in NO_DATABASE:
            _take_data_dir(verb_parser)
    return parser


# Verbs that never open the local stack's database or data folder: `deploy` needs DATABASE_URL, `weights` works on
# the Modal volume, `provenance verify` reads one file. Every other verb takes `--data-dir`.
NO_DATABASE = frozenset({"deploy", "weights", "provenance"})


def _take_data_dir(parser: argparse.ArgumentParser) -> None:
    """Give `--data-dir` to a verb and to each of its sub-verbs (`privacy log-request`, `support reply`...)."""
    subverbs = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    for action in subverbs:
        for sub in action.choices.values():
            _take_data_dir(sub)
    if not subverbs and "--data-dir" not in parser._option_string_actions:
        parser.add_argument(
            "--data-dir", help="the local stack's data folder (default: ATELIER_DATA_DIR or .data), as for `local`"
        )


def _add_operator_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Verbs operators use on a running deployment: policies, billing, security."""
    policy = verbs.add_parser("policy", help="policy versions").add_subparsers(dest="policy_verb", required=True)
    publish = policy.add_parser("publish", help="publish a policy text as a new version and notify every user")
    publish.add_argument("file", nargs="?", help="the text (Markdown; placeholders filled); default: the shipped text")
    publish.add_argument("--summary", help="what changed, in a few sentences (shown on the accept page)")
    publish.add_argument("--kind", choices=["privacy", "terms"], required=True)
    publish.add_argument("--material", action="store_true", help="users must accept it before continuing")
    publish.add_argument("--effective-at", help="ISO time with zone (default: now)")
    publish.set_defaults(run=cmd_policy_publish)

    billing = verbs.add_parser("billing", help="operator views of Polar billing")
    billing_verbs = billing.add_subparsers(dest="billing_verb", required=True)
    unmatched = billing_verbs.add_parser("unmatched", help="list Polar deliveries waiting for an account")
    unmatched.add_argument(
        "--status", default="unmatched", choices=["unmatched", "unparsed", "failed", "ignored", "processed"]
    )
    unmatched.add_argument("--limit", type=int, default=100)
    unmatched.set_defaults(run=cmd_billing_unmatched)

    security = verbs.add_parser("security", help="security monitoring")
    security_verbs = security.add_subparsers(dest="security_verb", required=True)
    events = security_verbs.add_parser("events", help="list security events (repeated 401s, denials)")
    events.add_argument("--since", type=_since, default=None, help="24h, 7d, 30m, or an ISO time (default: all)")
    events.add_argument("--limit", type=int, default=200)
    events.set_defaults(run=cmd_security)
    _add_privacy_verbs(verbs)
    _add_support_verbs(verbs)
    _add_trust_verbs(verbs)
    _add_dataset_verbs(verbs)


def cmd_provenance_verify(args: argparse.Namespace) -> int:
    """Print what a file's C2PA manifest claims and whether it validates; exit 1 when absent or invalid."""
    from shared.provenance.verify import verify, xmp_digital_source_type

    data = Path(args.file).read_bytes()
    result = verify(data)
    if not result.present:
        print("no C2PA manifest" + (f" ({', '.join(result.failures)})" if result.failures else ""))
        return 1
    print(
        f"claim generator: {', '.join(g.get('name', '?') + ' ' + g.get('version', '') for g in result.claim_generator)}"
    )
    for action in result.actions:
        agent = action.get("softwareAgent") or {}
        agent_text = f"{agent.get('name', '')} {agent.get('version', '')}".strip() if isinstance(agent, dict) else agent
        source = action.get("digitalSourceType", "-")
        print(f"action: {action.get('action')}  source: {source}  agent: {agent_text or '-'}")
    print(f"ingredients: {result.ingredients}")
    print(f"signed by: {result.signer.get('common_name', '?')} ({result.signer.get('issuer', '?')})")
    print(f"XMP digital source type: {xmp_digital_source_type(data) or '-'}")
    trust = "trusted" if result.trusted else "not on a trust list"
    if result.valid:
        print(f"signature: valid ({trust})")
        return 0
    print(f"signature: INVALID ({', '.join(result.failures) or result.state})")
    return 1


def _review_links(keys: list[str]) -> dict[str, str]:
    """Short-lived signed links for reviewing queued images (local storage: served by the running local API)."""
    from shared.media.storage import build_storage

    return build_storage(_settings()).signed_urls(keys, 900) if keys else {}


def cmd_moderation(args: argparse.Namespace) -> int:
    """The moderation desk: the queue, takedown/restore of an image, suspend/unsuspend of an account (audited)."""

    from shared.trust import queue, suspension, takedown

    if args.moderation_verb == "suspend":

        def suspend(conn: Connection, _: Account) -> str:
            change = suspension.suspend(conn, email=args.email, reason=args.reason)
            return f"{'suspended' if change.changed else 'already suspended'}: account {change.account_id}"

        return _on_account(args.email, suspend)
    if args.moderation_verb == "unsuspend":

        def unsuspend(conn: Connection, _: Account) -> str:
            change = suspension.unsuspend(conn, email=args.email)
            return f"{'unsuspended' if change.changed else 'not suspended'}: account {change.account_id}"

        return _on_account(args.email, unsuspend)

    def desk(conn: Connection) -> str | None:
        if args.moderation_verb == "queue":
            items = queue.queue(conn, limit=args.limit)
            links = _review_links([item.storage_key for item in items]) if args.links else {}
            for item in items:
                score = f"{item.top_score:.2f}" if item.top_score is not None else "-"
                print(
                    f"{item.last_signal_at.isoformat(timespec='seconds')}  {item.media_id}  "
                    f"reports={item.reports} ({','.join(item.reasons) or '-'})  flags={item.flags} "
                    f"top_score={score}  {'public' if item.public else 'private'}"
                )
                if item.storage_key in links:
                    print(f"    review: {links[item.storage_key]}")
            print(f"{len(items)} item(s) to review")
            return None
        if args.moderation_verb == "takedown":
            change = takedown.takedown(conn, args.media_id, reason=args.reason)
            return f"{'taken down' if change.changed else 'already taken down'}: {change.media_id}"
        change = takedown.restore(conn, args.media_id)
        return f"{'restored' if change.changed else 'not taken down'}: {change.media_id}"

    return _in_transaction(desk)


def _moderation_appeals(args: argparse.Namespace) -> int:
    """List appeals against moderation decisions, or restore/confirm one (the person is told; audited)."""
    from datetime import UTC, datetime

    from shared.support import appeals

    def review(conn: Connection) -> str | None:
        if args.moderation_verb == "appeals":
            found = appeals.list_appeals(conn, undecided_only=not args.all, limit=args.limit)
            for appeal in found:
                print(appeals.line(appeal))
            print(f"{len(found)} appeal(s){'' if args.all else ' waiting for a decision'}")
            return None
        decided = appeals.decide(
            conn,
            args.ticket_id,
            outcome="restored" if args.restore else "confirmed",
            note=args.note,
            now=datetime.now(UTC),
        )
        return f"{decided.outcome}: appeal {decided.ticket_id} (decision {decided.decision_id}); the person is told"

    return _in_transaction(review)


def _add_trust_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Provenance checks and the moderation desk (reports, takedowns, suspensions)."""
    provenance = verbs.add_parser("provenance", help="C2PA provenance of generated images")
    provenance_verbs = provenance.add_subparsers(dest="provenance_verb", required=True)
    verify = provenance_verbs.add_parser("verify", help="print a file's manifest and whether its signature holds")
    verify.add_argument("file")
    verify.set_defaults(run=cmd_provenance_verify)

    moderation = verbs.add_parser("moderation", help="reports, takedowns and suspensions (audited)")
    moderation_verbs = moderation.add_subparsers(dest="moderation_verb", required=True)
    listing = moderation_verbs.add_parser("queue", help="reported and auto-flagged images, newest first")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--links", action="store_true", help="print a 15-minute signed link to review each image")
    down = moderation_verbs.add_parser("takedown", help="remove an image from the gallery and tell its owner why")
    media_id = _an_id("MEDIA_ID must be an image id (a UUID)")
    down.add_argument("media_id", type=media_id)
    down.add_argument("--reason", required=True, help="shown to the owner; not written to the audit log")
    moderation_verbs.add_parser("restore", help="let the owner publish a taken-down image again").add_argument(
        "media_id", type=media_id
    )
    suspend = moderation_verbs.add_parser(
        "suspend", help="stop an account from uploading, generating, publishing, buying"
    )
    suspend.add_argument("email", help="finds the account; not stored")
    suspend.add_argument("--reason", required=True, help="shown to the account holder; not written to the audit log")
    moderation_verbs.add_parser("unsuspend", help="lift a suspension").add_argument("email")
    listing_appeals = moderation_verbs.add_parser("appeals", help="appeals against decisions, oldest waiting first")
    listing_appeals.add_argument("--all", action="store_true", help="decided ones too, newest first")
    listing_appeals.add_argument("--limit", type=int, default=100)
    decide = moderation_verbs.add_parser(
        "appeal-decide", help="restore or confirm the decision an appeal contests; the person is told (audited)"
    )
    decide.add_argument(
        "ticket_id",
        type=_an_id("TICKET_ID must be an appeal's ticket id (a UUID)"),
        help="the appeal's ticket id (see `moderation appeals`)",
    )
    outcome = decide.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--restore", action="store_true", help="overturn: lift the takedown/suspension/block/flag")
    outcome.add_argument("--confirm", action="store_true", help="the decision stands")
    decide.add_argument("--note", required=True, help="to the person (mailed and shown in Notices), 1-10,000 chars")
    for verb_parser in moderation_verbs.choices.values():
        verb_parser.set_defaults(run=cmd_moderation)
    listing_appeals.set_defaults(run=_moderation_appeals)
    decide.set_defaults(run=_moderation_appeals)


def cmd_dataset(args: argparse.Namespace) -> int:
    """The service-improvement dataset: build a version now, list versions, export one for a training job."""
    from shared.dataset import service
    from shared.dataset.runs import build_now
    from shared.kit.db import open_database
    from shared.kit.errors import AtelierError
    from shared.media.storage import build_storage

    settings = _settings()
    db = open_database(settings)
    try:
        if args.dataset_verb == "build":
            now = datetime.now(UTC)
            version = args.version or service.default_version(now)
            added = build_now(db, build_storage(settings), settings, now=now, version=version)
            print(f"dataset {version}: {added} item(s) added")
        elif args.dataset_verb == "list":
            with db.transaction() as conn:
                versions = service.list_versions(conn)
            for info in versions:
                state = f"built {info.built_at:%Y-%m-%d %H:%M}" if info.built_at else "building"
                print(f"{info.version}  {info.items} item(s)  {state}")
            print(f"{len(versions)} version(s)")
        else:
            count = service.export_version(db, build_storage(settings), args.version, Path(args.dir))
            print(f"dataset {args.version}: {count} item(s) written to {args.dir}")
    except AtelierError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 2
    finally:
        db.close()
    return 0


def _add_dataset_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dataset = verbs.add_parser("dataset", help="the anonymised service-improvement dataset")
    dataset_verbs = dataset.add_subparsers(dest="dataset_verb", required=True)
    build = dataset_verbs.add_parser("build", help="build a dataset version now (default: today's)")
    build.add_argument("--version", help="the version's name (default: today's date, as the scheduled build)")
    dataset_verbs.add_parser("list", help="dataset versions with their item counts")
    export = dataset_verbs.add_parser("export", help="write a version (manifest.jsonl and items/) to a folder")
    export.add_argument("version")
    export.add_argument("dir")
    for verb_parser in dataset_verbs.choices.values():
        verb_parser.set_defaults(run=cmd_dataset)


def main(argv: list[str] | None = None) -> int:
    from shared.logs import configure_logging

    configure_logging(logging.INFO)  # JSON lines through the one redaction filter
    args = build_parser().parse_args(argv)
    if getattr(args, "data_dir", None):  # before anything reads the settings: the database, storage and dev key
        os.environ["ATELIER_DATA_DIR"] = str(Path(args.data_dir).resolve())
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
