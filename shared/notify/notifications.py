"""In-app notifications: list newest first, mark as seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from config.values import value
from shared.kit.db.database import Connection
from shared.kit.errors import NotFound
from shared.kit.pagination import Cursor, Page, page_of

_COLUMNS = "id, kind, title, body, created_at, seen_at, policy_version_id, decision_id"


@value
class Notification:
    id: UUID
    kind: str
    title: str
    body: str
    created_at: datetime
    seen_at: datetime | None
    policy_version_id: UUID | None
    decision_id: UUID | None = None  # the moderation decision this notice states the reasons of (appealable)
    appeal_ticket_id: UUID | None = None  # the appeal already opened against that decision


def _notification(row: dict[str, Any]) -> Notification:
    return Notification(**{key: row[key] for key in _COLUMNS.split(", ")}, appeal_ticket_id=row.get("appeal_ticket_id"))


def list_for(conn: Connection, user_id: UUID, *, cursor: Cursor | None, limit: int) -> Page[Notification]:
    rows = conn.execute(
        f"""select {_COLUMNS},
                   (select t.id from support_tickets t where t.decision_id = notifications.decision_id)
                       as appeal_ticket_id
              from notifications
            where user_id = %(uid)s
              and (%(at)s::timestamptz is null or (created_at, id) < (%(at)s, %(id)s))
            order by created_at desc, id desc limit %(limit)s""",
        {
            "uid": user_id,
            "at": cursor.created_at if cursor else None,
            "id": cursor.id if cursor else None,
            "limit": limit + 1,
        },
    ).fetchall()
    return page_of([_notification(r) for r in rows], limit, lambda n: Cursor(n.created_at, n.id))


def post(conn: Connection, user_id: UUID, *, kind: str, title: str, body: str, decision_id: UUID | None = None) -> UUID:
    """Add an in-app notice in the caller's transaction (the caller queues any email that mirrors it)."""
    row = conn.execute(
        "insert into notifications (user_id, kind, title, body, decision_id) values (%s, %s, %s, %s, %s) returning id",
        (user_id, kind, title, body, decision_id),
    ).fetchone()
    if row is None:  # pragma: no cover - insert ... returning always yields the row
        raise RuntimeError("notification insert returned nothing")
    notice_id: UUID = row["id"]
    return notice_id


def mark_seen(conn: Connection, user_id: UUID, notification_id: UUID) -> Notification:
    row = conn.execute(
        f"""update notifications set seen_at = coalesce(seen_at, now())
            where id = %s and user_id = %s returning {_COLUMNS}""",
        (notification_id, user_id),
    ).fetchone()
    if row is None:
        raise NotFound("No such notification.")
    return _notification(row)
