"""The email outbox: queue a mail in the transaction that causes it, deliver it later from `deliver-email`.

A row names what the mail is about (an account, a policy version, an export, a support ticket or message, an
in-app notice),
never the address or the text: both are read when the mail is sent, so a rectified address is used and an
erased account's mail disappears with it (its rows cascade). Delivery claims rows with SKIP LOCKED under a
claim id and a lease, sends outside any transaction, then marks each row fenced by its claim: two runs at
once never send one row twice. Transient failures come back after a growing delay, up to
`ATELIER_EMAIL_MAX_ATTEMPTS`; a permanent refusal is recorded and never retried.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from config.settings import Settings
from shared.access.guard import can_process
from shared.kit.db.database import Connection, Database
from shared.media.storage import Storage
from shared.notify.email import (
    EmailSender,
    OutgoingEmail,
    PermanentEmailError,
    SenderUnavailable,
    TransientEmailError,
)
from shared.notify.mails import TEMPLATES, Site, render

log = logging.getLogger("atelier.email")

LEASE = timedelta(minutes=10)  # a claim older than this is abandoned (its run died) and may be taken again
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
DEFAULT_MAX_ATTEMPTS = 8  # 1 min, 4 min, 16 min, ~1 h, ~4 h, then every 6 h: about a day and a half


def site_from(settings: Settings) -> Site:
    return Site(settings.product_name, settings.api_base_url, settings.web_base_url)


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failed attempt: 1 min × 4^(n-1), at most six hours."""
    delay: timedelta = FIRST_RETRY * (4 ** max(attempts - 1, 0))
    return min(delay, MAX_RETRY)


def enqueue(
    conn: Connection,
    template: str,
    *,
    user_id: UUID | None = None,
    ticket_id: UUID | None = None,
    export_id: UUID | None = None,
    support_message_id: UUID | None = None,
    policy_version_id: UUID | None = None,
    notification_id: UUID | None = None,
    params: dict[str, Any] | None = None,
) -> UUID | None:
    """Queue one mail in the caller's transaction; None when the same mail is queued already."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown email template: {template}")
    row = conn.execute(
        """insert into email_outbox (user_id, ticket_id, export_id, support_message_id, policy_version_id,
                                     notification_id, template, params)
           values (%s, %s, %s, %s, %s, %s, %s, %s)
           on conflict do nothing returning id""",
        (
            user_id,
            ticket_id,
            export_id,
            support_message_id,
            policy_version_id,
            notification_id,
            template,
            Jsonb(params or {}),
        ),
    ).fetchone()
    return row["id"] if row else None


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0  # permanent refusals, out of attempts, or nothing left to send to


_CLAIM = """
update email_outbox set claim = %(claim)s, claimed_at = %(now)s, attempts = attempts + 1
 where id in (select id from email_outbox
               where sent_at is null and failed_at is null and next_attempt_at <= %(now)s
                 and (claim is null or claimed_at < %(stale)s)
               order by next_attempt_at, created_at
               limit %(limit)s
               for update skip locked)
returning id, next_attempt_at, created_at
"""

# Everything a template may need, read at send time. No row: the account (or ticket) is gone, and so is the mail.
_FACTS = """
select o.id, o.template, o.user_id, o.params, o.attempts,
       coalesce(a.email, t.contact_email) as address,
       p.kind, p.version, p.material, p.effective_at, p.summary,
       e.storage_key, e.expires_at, e.status as export_status,
       t.subject, t.topic, t.source, m.body as reply,
       n.title as notice_title, n.body as notice_body
  from email_outbox o
  left join accounts a on a.id = o.user_id
  left join support_tickets t on t.id = o.ticket_id
  left join policy_versions p on p.id = o.policy_version_id
  left join exports e on e.id = o.export_id
  left join support_messages m on m.id = o.support_message_id
  left join notifications n on n.id = o.notification_id
 where o.id = %s and o.claim = %s
"""


def _finish(db: Database, row_id: UUID, claim: UUID, sql: str, params: tuple[Any, ...]) -> None:
    with db.transaction() as conn:
        conn.execute(
            f"update email_outbox set claim = null, claimed_at = null, {sql} where id = %s and claim = %s",
            (*params, row_id, claim),
        )


def _fail(db: Database, row_id: UUID, claim: UUID, code: str, now: datetime) -> None:
    _finish(db, row_id, claim, "failed_at = %s, last_error = %s", (now, code[:200]))


class _Skip(Exception):
    """This mail cannot or must not be sent; `code` says why (recorded, never retried)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _prepare(
    db: Database, row_id: UUID, claim: UUID, *, site: Site, storage: Storage | None, now: datetime
) -> OutgoingEmail | None:
    """The mail for one claimed row, read now; None when the row is gone (an erased account or ticket)."""
    with db.transaction() as conn:
        facts = conn.execute(_FACTS, (row_id, claim)).fetchone()
        if facts is None:
            return None
        if not facts["address"]:
            raise _Skip("no_address")
        if facts["template"] not in TEMPLATES:
            raise _Skip("unknown_template")
        data: dict[str, Any] = {**facts, **facts["params"]}
        informational = facts["template"] == "policy_update" and not facts["material"]
        if informational and not (facts["user_id"] and can_process(conn, facts["user_id"], "marketing")):
            raise _Skip("not_opted_in")  # informational mail goes only to people who asked for email
    if facts["template"] == "export_ready":
        if facts["export_status"] != "ready" or facts["expires_at"] is None or facts["expires_at"] <= now:
            raise _Skip("export_unavailable")
        if storage is None:
            raise _Skip("no_storage")
        seconds = max(1, int((facts["expires_at"] - now).total_seconds()))
        url = storage.signed_url(facts["storage_key"], seconds)  # dies with the export, never later
        data["url"] = f"{site.api_url}{url}" if url.startswith("/") else url
    mail = render(facts["template"], site, data)
    return OutgoingEmail(
        outbox_id=row_id,
        to=facts["address"],
        template=facts["template"],
        subject=mail.subject,
        body=mail.text,
        html=mail.html,
        transactional=mail.transactional,
        unsubscribe_url=None if mail.transactional else site.preferences_url,
    )


def _release(db: Database, ids: list[UUID], claim: UUID) -> None:
    """Give rows back untried (the sender went away): their attempt does not count."""
    with db.transaction() as conn:
        conn.execute(
            """update email_outbox set claim = null, claimed_at = null, attempts = attempts - 1
                where id = any(%s) and claim = %s""",
            (ids, claim),
        )


def deliver(
    db: Database,
    sender: EmailSender,
    *,
    site: Site | None = None,
    storage: Storage | None = None,
    now: datetime | None = None,
    limit: int = 100,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> DeliveryReport:
    """Send up to `limit` due emails (`.sent` says how many went). Safe to run concurrently.

    Raises `SenderUnavailable` (after giving the untried rows back) when the sender itself is down, so the
    task run is recorded as failed."""
    now = now or datetime.now(UTC)
    site = site or Site("Atelier", "http://127.0.0.1:8000", "http://127.0.0.1:8000")
    claim = uuid.uuid4()
    with db.transaction() as conn:
        rows = conn.execute(_CLAIM, {"claim": claim, "now": now, "stale": now - LEASE, "limit": limit}).fetchall()
    # RETURNING keeps no order: send oldest first, so the mails about one thing arrive in the order they happened.
    ids = [row["id"] for row in sorted(rows, key=lambda r: (r["next_attempt_at"], r["created_at"], r["id"]))]
    report = DeliveryReport(claimed=len(ids))
    # Stop well inside the lease, so a slow server can never let another run take (and send) a row we hold.
    deadline = time.monotonic() + LEASE.total_seconds() / 2
    try:
        for index, row_id in enumerate(ids):
            if time.monotonic() > deadline:
                _release(db, ids[index:], claim)
                log.warning("email delivery stopped at its time budget; %d rows given back", len(ids) - index)
                break
            try:
                email = _prepare(db, row_id, claim, site=site, storage=storage, now=now)
                if email is None:
                    continue
                sender.send(email)
            except _Skip as skip:
                _fail(db, row_id, claim, skip.code, now)
                report.failed += 1
                log.info("email %s not sent: %s", row_id, skip.code)
                continue
            except PermanentEmailError as exc:
                _fail(db, row_id, claim, exc.code, now)
                report.failed += 1
                log.warning("email %s refused for good: %s", row_id, exc.code)
                continue
            except Exception as exc:  # transient, or a sender bug: count the attempt and retry later
                _retry_later(db, row_id, claim, exc, now=now, max_attempts=max_attempts, report=report)
                if isinstance(exc, SenderUnavailable):
                    _release(db, ids[index + 1 :], claim)
                    raise
                continue
            _finish(db, row_id, claim, "sent_at = %s, last_error = null", (now,))
            report.sent += 1
    finally:
        close = getattr(sender, "close", None)
        if callable(close):
            close()
    return report


def _retry_later(
    db: Database, row_id: UUID, claim: UUID, exc: Exception, *, now: datetime, max_attempts: int, report: DeliveryReport
) -> None:
    """A transient failure: due again after `retry_delay`, or given up once out of attempts."""
    code = exc.code if isinstance(exc, TransientEmailError) else type(exc).__name__
    attempts = _attempts(db, row_id)
    if attempts >= max_attempts:
        _fail(db, row_id, claim, f"{code}; gave up after {attempts} attempts", now)
        report.failed += 1
    else:
        later = now + retry_delay(attempts)
        _finish(db, row_id, claim, "next_attempt_at = %s, last_error = %s", (later, code[:200]))
        report.retried += 1
    log.warning("email %s failed (attempt %d): %s", row_id, attempts, code)


def _attempts(db: Database, row_id: UUID) -> int:
    with db.transaction() as conn:
        row = conn.execute("select attempts from email_outbox where id = %s", (row_id,)).fetchone()
    return int(row["attempts"]) if row else 0


def deliver_due(
    db: Database,
    sender: EmailSender,
    *,
    site: Site | None = None,
    storage: Storage | None = None,
    now: datetime | None = None,
    batch: int = 100,
    budget_seconds: float = 240.0,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int:
    """Deliver batch after batch until nothing is due or the time budget is spent (a policy change queues one
    mail per account); returns how many were sent. Runs of the task may overlap safely."""
    stop = time.monotonic() + budget_seconds
    sent = 0
    while True:
        report = deliver(db, sender, site=site, storage=storage, now=now, limit=batch, max_attempts=max_attempts)
        sent += report.sent
        if report.claimed < batch or time.monotonic() > stop:
            return sent
