"""The email outbox and its pluggable sender.

Rows are claimed with SKIP LOCKED, the address is read from the account only at send time, and the
transaction is closed before the sender is called. The local adapter logs the outbox id only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from config.settings import Settings
from shared.db.database import Database

log = logging.getLogger("atelier.email")


@dataclass(frozen=True)
class OutgoingEmail:
    outbox_id: UUID
    to: str
    template: str
    subject: str
    body: str


class EmailSender(Protocol):
    """Delivers one email or raises; must never log the address."""

    def send(self, email: OutgoingEmail) -> None: ...


class LogEmailSender:
    """The local adapter: records that an email would be sent, by outbox id, never by address."""

    def __init__(self) -> None:
        self.sent: list[UUID] = []

    def send(self, email: OutgoingEmail) -> None:
        self.sent.append(email.outbox_id)
        log.info("email %s (%s) delivered by the log sender", email.outbox_id, email.template)


def email_sender_for(settings: Settings) -> EmailSender:
    if settings.email_sender == "log":
        return LogEmailSender()
    raise ValueError(f"unknown email sender: {settings.email_sender}")


_CLAIM = """
select o.id, o.template, a.email, p.kind, p.version, p.material, n.title as notice_title, n.body as notice_body
from email_outbox o
join accounts a on a.id = o.user_id
left join policy_versions p on p.id = o.policy_version_id
left join notifications n on n.id = o.notification_id
where o.sent_at is null and o.attempts < %(max_attempts)s
  and (o.claimed_at is null or o.claimed_at < now() - interval '10 minutes')
order by o.created_at
limit %(limit)s
for update of o skip locked
"""


def _render(row: dict[str, object]) -> tuple[str, str]:
    if row.get("notice_title"):  # an email that mirrors an in-app notice (moderation) says what the notice says
        return str(row["notice_title"]), str(row["notice_body"])
    label = "privacy policy" if row["kind"] == "privacy" else "terms of service"
    subject = f"We updated our {label}"
    body = f"Version {row['version']} of the Atelier {label} is now in force."
    if row["material"]:
        body += " Sign in to review and accept it."
    return subject, body


def deliver_outbox(db: Database, sender: EmailSender, *, limit: int = 100, max_attempts: int = 5) -> int:
    """Send up to `limit` pending emails; returns how many were sent. Safe to run concurrently."""
    with db.transaction() as conn:
        rows = conn.execute(_CLAIM, {"limit": limit, "max_attempts": max_attempts}).fetchall()
        ids = [row["id"] for row in rows]
        # The claim outlives this transaction: a concurrent run skips these rows for ten minutes.
        conn.execute("update email_outbox set attempts = attempts + 1, claimed_at = now() where id = any(%s)", (ids,))
    sent = 0
    for row in rows:
        if not row["email"]:
            with db.transaction() as conn:
                conn.execute("update email_outbox set last_error = 'no address' where id = %s", (row["id"],))
            continue
        subject, body = _render(row)
        try:
            sender.send(OutgoingEmail(row["id"], row["email"], row["template"], subject, body))
        except Exception as exc:  # the sender is remote; record the failure class and move on
            with db.transaction() as conn:
                conn.execute(
                    "update email_outbox set last_error = %s, claimed_at = null where id = %s",
                    (type(exc).__name__, row["id"]),
                )
            continue
        with db.transaction() as conn:
            conn.execute("update email_outbox set sent_at = now(), last_error = null where id = %s", (row["id"],))
        sent += 1
    return sent
