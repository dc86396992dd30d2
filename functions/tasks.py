"""Scheduled tasks: the registry (name, schedule, function) and how a due task is claimed and started.

The same registry drives `deploy.py task`, the local stack's scheduler and the Modal tick, so a task runs on the
same schedule everywhere (shared/tasks/schedule.py decides what is due). Each task is a thin call into `shared/`;
a new task is one TaskDef entry in TASKS. No Modal here: the local stack imports this module, and the
Modal wiring (the Cron tick and the run function) is functions/cron.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from config.settings import Settings, get_settings
from shared import ratelimit
from shared.credits.expiry import expire_credits, run_expire_holds
from shared.kit.db import Database, open_database
from shared.logs import configure_logging
from shared.media.service import purge_media
from shared.media.storage import Storage, build_storage
from shared.notify.email import OutgoingEmail
from shared.notify.smtp import email_sender_for
from shared.privacy import requests
from shared.privacy.erasure import Processors, run_erasures
from shared.retention.service import enforce_retention, keep_from_settings
from shared.tasks.housekeeping import prune_task_runs
from shared.tasks.runner import TaskDef, TaskRun
from shared.tasks.schedule import claim_due, claim_now, release, run_claimed

log = logging.getLogger("atelier.tasks")

# Look back further than the schedule, so a failed or late run is covered by the next one.
SYNC_BILLING_LOOKBACK = timedelta(days=3)
# Trashed images purged per run at most (a run is cut short well within the 900 s timeout; the next goes on).
PURGE_MEDIA_LIMIT = 50_000


def run_sync_billing(
    db: Database,
    settings: Settings | None = None,
    *,
    lookback: timedelta = SYNC_BILLING_LOOKBACK,
    now: datetime | None = None,
) -> int:
    """Repair lost `order.paid` and refund webhooks; a no-op (0) when billing is not configured."""
    from shared.billing.catalogue import load_catalogue
    from shared.billing.polar_api import polar_client
    from shared.billing.reconcile import sync_billing

    settings = settings or get_settings()
    if not settings.polar_access_token:
        log.info("sync-billing skipped: POLAR_ACCESS_TOKEN is not set")
        return 0
    since = (now or datetime.now(UTC)) - lookback
    with polar_client(settings) as client:
        return sync_billing(db, client, since=since, catalogue=load_catalogue(settings.products_file))


def _sync_billing(db: Database, now: datetime) -> int:
    return run_sync_billing(db, now=now)


def _reconcile_jobs(db: Database, now: datetime) -> int:
    from functions import job_routing
    from shared.jobs.reconcile import reconcile

    return reconcile(db, job_routing.current(), now=now)


def _storage(settings: Settings) -> Storage:
    """The object store the settings choose (Supabase Storage in production, the local folder otherwise)."""
    return build_storage(settings)


def run_enforce_retention(db: Database, now: datetime, settings: Settings | None = None) -> int:
    """Apply every retention rule (config/retention.py) to the tables in shared/retention/sweeps.py."""
    settings = settings or get_settings()
    storage = _storage(settings)
    from functools import partial

    from shared.privacy.erasure import schedule_inactive

    hand_over = partial(schedule_inactive, grace_days=settings.deletion_grace_days)
    report = enforce_retention(db, storage, now=now, keep=keep_from_settings(settings), schedule_erasure=hand_over)
    return report.items


def run_purge_media(db: Database, now: datetime, settings: Settings | None = None) -> int:
    """Remove trashed images whose trash period is over: object first, then row."""
    return purge_media(db, _storage(settings or get_settings()), now=now, limit=PURGE_MEDIA_LIMIT)


def _expire_holds(db: Database, now: datetime) -> int:
    return run_expire_holds(db, now)


def _enforce_retention(db: Database, now: datetime) -> int:
    return run_enforce_retention(db, now)


def _purge_media(db: Database, now: datetime) -> int:
    return run_purge_media(db, now)


def _build_exports(db: Database, now: datetime) -> int:
    from shared.media.storage import build_storage
    from shared.privacy.exports import build_exports

    settings = get_settings()
    return build_exports(db, build_storage(settings), now=now, days=settings.export_days)


def _expire_exports(db: Database, now: datetime) -> int:
    from shared.media.storage import build_storage
    from shared.privacy.exports import expire_exports

    return expire_exports(db, build_storage(get_settings()), now=now)


def erasure_processors(settings: Settings) -> Processors:
    """Storage, the Supabase Auth admin and (when billing is on) Polar, as the erasure steps need them."""
    from shared.media.storage import build_storage
    from shared.privacy.processors import processors_for

    return processors_for(settings, storage=build_storage(settings), farewell_mail=True)


def run_erase_accounts(db: Database, now: datetime, settings: Settings | None = None) -> int:
    """Erase the accounts whose deletion grace period is over (shared/privacy/erasure.py)."""
    return run_erasures(db, erasure_processors(settings or get_settings()), now=now)


def run_sync_accounts(db: Database, now: datetime, settings: Settings | None = None) -> int:
    """Erase accounts whose Supabase Auth user was deleted (shared/lifecycle/auth_sync.py)."""
    from shared.accounts.auth_admin import SupabaseAuthAdmin
    from shared.lifecycle.auth_sync import sync_accounts

    return sync_accounts(db, SupabaseAuthAdmin(settings or get_settings()), now=now)


def run_sweep_orphans(db: Database, now: datetime, settings: Settings | None = None) -> int:
    """Delete storage objects under `users/{id}/` whose account no longer exists (shared/privacy/orphans.py)."""
    from shared.privacy.orphans import sweep_orphans

    return sweep_orphans(db, _storage(settings or get_settings()))


def run_deliver_email(db: Database, now: datetime, settings: Settings | None = None) -> int:
    """Send the due outbox mails through the configured sender (SMTP in production); returns how many went."""
    from shared.notify.outbox import deliver_due, site_from

    settings = settings or get_settings()
    return deliver_due(
        db,
        email_sender_for(settings),
        site=site_from(settings),
        storage=_storage(settings),
        now=now,
        max_attempts=settings.email_max_attempts,
    )


def run_notify_overdue(db: Database, now: datetime, settings: Settings | None = None) -> int:
    """Email the privacy operators about rights requests past their deadline (once per request)."""
    settings = settings or get_settings()
    sender = email_sender_for(settings)

    def send(overdue: list[requests.PrivacyRequest]) -> None:
        log.warning(
            "%d privacy requests are overdue", len(overdue), extra={"request_ids": [str(r.id) for r in overdue]}
        )
        subject, body = requests.overdue_email(overdue, now)
        try:
            for address in settings.privacy_operator_emails:
                sender.send(OutgoingEmail(uuid4(), address, "privacy_requests_overdue", subject, body))
        finally:
            close = getattr(sender, "close", None)
            if callable(close):
                close()

    return requests.notify_overdue(db, send, now=now)


def run_build_dataset(db: Database, now: datetime, settings: Settings | None = None) -> int:
    """Build today's service-improvement dataset version from the eligible images (shared/dataset)."""
    from shared.dataset.runs import build_now

    settings = settings or get_settings()
    return build_now(db, _storage(settings), settings, now=now)


def run_purge_dataset(db: Database, now: datetime, settings: Settings | None = None) -> int:
    """Withdraw from every dataset version the images that may no longer be used (objection, restriction...)."""
    from shared.dataset.runs import purge_now

    settings = settings or get_settings()
    return purge_now(db, _storage(settings), settings, now=now)


TASKS: dict[str, TaskDef] = {
    task.name: task
    for task in (
        TaskDef("prune-task-runs", "17 3 * * *", prune_task_runs, "delete task-run records past retention"),
        TaskDef("reconcile-jobs", "* * * * *", _reconcile_jobs, "fail jobs past their deadline, re-dispatch lost ones"),
        TaskDef("sync-billing", "17 4 * * *", _sync_billing, "apply paid orders and refunds no webhook applied"),
        TaskDef("prune-rate-limits", "*/10 * * * *", ratelimit.prune, "delete rate-limit counters of ended windows"),
        TaskDef("enforce-retention", "41 * * * *", _enforce_retention, "apply config/retention.py in batches"),
        TaskDef("expire-holds", "*/2 * * * *", _expire_holds, "void credit holds past their deadline"),
        TaskDef("expire-credits", "7 * * * *", expire_credits, "book the expiry of credits that ran out"),
        TaskDef("purge-media", "23 * * * *", _purge_media, "delete trashed images after the trash period"),
        TaskDef("build-exports", "every 30s", _build_exports, "build requested data exports (ZIP archives)"),
        TaskDef("expire-exports", "41 * * * *", _expire_exports, "delete export archives whose link expired"),
        TaskDef("erase-accounts", "*/15 * * * *", run_erase_accounts, "erase accounts whose deletion grace is over"),
        TaskDef("sync-accounts", "53 * * * *", run_sync_accounts, "erase accounts whose Supabase Auth user is gone"),
        TaskDef("sweep-orphan-objects", "53 5 * * *", run_sweep_orphans, "delete objects of accounts that are gone"),
        TaskDef("deliver-email", "* * * * *", run_deliver_email, "send queued emails, retrying transient failures"),
        TaskDef("build-improvement-dataset", "31 2 * * 1", run_build_dataset, "build a service-improvement dataset"),
        TaskDef("purge-improvement-dataset", "*/15 * * * *", run_purge_dataset, "withdraw images no longer allowed"),
        TaskDef(
            "notify-overdue-requests", "41 7 * * *", run_notify_overdue, "email operators about late rights requests"
        ),
    )
}


class TaskBusy(RuntimeError):
    """Another run of this task holds its lease."""


def run_named(name: str) -> TaskRun:
    """Run one task now against the configured database (`deploy.py task NAME`), unless a run of it is going on."""
    configure_logging()
    db = open_database(get_settings())
    try:
        claim = claim_now(db, TASKS[name], now=datetime.now(UTC))
        if claim is None:
            raise TaskBusy(f"{name} is running already; try again when that run has finished")
        run = run_claimed(db, TASKS[name], claim)
        if run is None:
            raise TaskBusy(f"{name} was started by the scheduler meanwhile")
        return run
    finally:
        db.close()


def tick_once(db: Database, start: Callable[[str, str], object], *, now: datetime) -> list[str]:
    """Claim every due task and start each claimed one on its own through `start(name, run_id)`.

    A task that cannot be started gives its claim back, so the next tick tries again.
    """
    started: list[str] = []
    for claim in claim_due(db, TASKS.values(), now=now):
        try:
            start(claim.task, str(claim.run_id))
        except Exception:
            log.exception("scheduled task could not be started", extra={"task": claim.task})
            release(db, claim, undo_due=True)
            continue
        started.append(claim.task)
    return started
