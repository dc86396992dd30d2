"""The operators' side of support: list tickets, read one, answer it (a staff message, emailed) and close it.

Text is shown to the operator who asks for it and mailed to the person; it is never written to logs or to
the audit log, which records ticket ids and whether the ticket was closed. Contact-form addresses are not
shown either: the reply goes to them through the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from config.values import value
from shared import audit
from shared.kit.db.database import Connection
from shared.kit.errors import NotFound
from shared.notify.outbox import enqueue
from shared.support.reference import short_reference
from shared.support.rules import check_text


@value
class TicketSummary:
    id: UUID
    source: str  # app | contact
    topic: str
    status: str
    subject: str
    created_at: datetime
    updated_at: datetime
    messages: int
    last_author: str | None
    user_id: UUID | None
    contact_name: str | None


@value
class ThreadMessage:
    id: UUID
    author: str
    body: str
    created_at: datetime
    attachments: int


_SUMMARY = """
select t.id, t.source, t.topic, t.status, t.subject, t.created_at, t.updated_at, t.user_id, t.contact_name,
       (select count(*) from support_messages m where m.ticket_id = t.id) as messages,
       (select m.author from support_messages m where m.ticket_id = t.id
         order by m.created_at desc, m.id desc limit 1) as last_author
  from support_tickets t
"""


def _summary(row: dict[str, Any]) -> TicketSummary:
    return TicketSummary(**row)


def list_tickets(conn: Connection, *, open_only: bool = False, limit: int = 100) -> list[TicketSummary]:
    """Oldest activity first among open ones (who waits longest), else newest first."""
    if open_only:
        sql = f"{_SUMMARY} where t.status = 'open' order by t.updated_at, t.id limit %s"
    else:
        sql = f"{_SUMMARY} order by t.updated_at desc, t.id desc limit %s"
    return [_summary(row) for row in conn.execute(sql, (limit,)).fetchall()]


def get_ticket(conn: Connection, ticket_id: UUID) -> tuple[TicketSummary, list[ThreadMessage]]:
    row = conn.execute(f"{_SUMMARY} where t.id = %s", (ticket_id,)).fetchone()
    if row is None:
        raise NotFound("No such support ticket.")
    messages = conn.execute(
        """select m.id, m.author, m.body, m.created_at,
                  (select count(*) from support_attachments a where a.message_id = m.id) as attachments
             from support_messages m where m.ticket_id = %s order by m.created_at, m.id""",
        (ticket_id,),
    ).fetchall()
    return _summary(row), [ThreadMessage(**m) for m in messages]


def reply(conn: Connection, ticket_id: UUID, body: str, *, close: bool, now: datetime) -> UUID:
    """Add a staff message, mark the ticket answered (or closed) and queue the mail; returns the message id."""
    check_text(None, body)
    ticket = conn.execute(
        "select id, user_id, source from support_tickets where id = %s for update", (ticket_id,)
    ).fetchone()
    if ticket is None:
        raise NotFound("No such support ticket.")
    row = conn.execute(
        """insert into support_messages (ticket_id, user_id, author, body, created_at)
           values (%s, %s, 'staff', %s, greatest(%s, clock_timestamp())) returning id""",
        (ticket_id, ticket["user_id"], body, now),
    ).fetchone()
    if row is None:  # pragma: no cover - insert ... returning always yields the row
        raise RuntimeError("insert returned nothing")
    status = "closed" if close else "answered"
    conn.execute(
        "update support_tickets set status = %s, updated_at = clock_timestamp() where id = %s", (status, ticket_id)
    )
    enqueue(conn, "support_reply", user_id=ticket["user_id"], ticket_id=ticket_id, support_message_id=row["id"])
    audit.record(
        conn,
        actor="operator",
        action="support.replied",
        subject_id=ticket["user_id"],
        details={"ticket_id": str(ticket_id), "closed": close, "source": ticket["source"]},
    )
    message_id: UUID = row["id"]
    return message_id


def summary_line(ticket: TicketSummary) -> str:
    """One line per ticket for the operator's terminal: ids, states and dates, no text."""
    who = f"account {ticket.user_id}" if ticket.user_id else "contact form"
    return (
        f"{ticket.id}  {short_reference(ticket.id)}  {ticket.status:8} {ticket.source:7} {ticket.topic:8} "
        f"updated {ticket.updated_at:%Y-%m-%d %H:%M}  messages={ticket.messages} last={ticket.last_author}  {who}"
    )


def thread_text(ticket: TicketSummary, messages: list[ThreadMessage]) -> str:
    """The whole conversation, for the operator who asked to read it (never for a log)."""
    lines = [
        summary_line(ticket),
        f"Subject: {ticket.subject}",
        *([f"Name given: {ticket.contact_name}"] if ticket.contact_name else []),
    ]
    for message in messages:
        extra = f" [{message.attachments} attachment(s)]" if message.attachments else ""
        lines += ["", f"--- {message.author} at {message.created_at:%Y-%m-%d %H:%M} UTC{extra}", message.body]
    return "\n".join(lines)
