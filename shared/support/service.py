"""Support tickets: a subject, a thread of messages and up to five validated, metadata-free image attachments.

Attachments go through `shared.media.images.validate_image` before anything is written; objects are stored
first (under `users/{user_id}/support/`), then the rows in one short transaction; if that fails, the
objects are deleted again, so a refused request leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from config.values import value
from shared.access import locks
from shared.kit.db.database import Connection, Database
from shared.kit.errors import NotFound
from shared.kit.pagination import Cursor, Page, page_of
from shared.media.images import EXTENSIONS, CleanImage
from shared.media.storage import Storage, user_prefix
from shared.support.rules import AlreadyAppealed, check_attachment_count, check_text
from shared.trust import decisions


@value
class Attachment:
    id: UUID
    storage_key: str
    content_type: str
    width: int
    height: int
    bytes: int


@value
class Message:
    id: UUID
    author: str
    body: str
    created_at: datetime
    attachments: list[Attachment]


@value
class Ticket:
    id: UUID
    subject: str
    status: str
    created_at: datetime
    updated_at: datetime
    messages: list[Message]
    topic: str = "general"
    decision_id: UUID | None = None  # an appeal: the moderation decision it contests
    appeal_outcome: str | None = None  # restored | confirmed, once a person has decided


def support_prefix(user_id: UUID) -> str:
    return f"{user_prefix(user_id)}support/"


def _store(storage: Storage, user_id: UUID, images: Sequence[CleanImage]) -> list[tuple[UUID, str, CleanImage]]:
    stored: list[tuple[UUID, str, CleanImage]] = []
    try:
        for image in images:
            attachment_id = uuid.uuid4()
            key = f"{support_prefix(user_id)}{attachment_id}.{EXTENSIONS[image.content_type]}"
            storage.put(key, image.data, image.content_type)
            stored.append((attachment_id, key, image))
    except BaseException:
        storage.delete([key for _, key, _ in stored])
        raise
    return stored


def _insert_message(
    conn: Connection, user_id: UUID, ticket_id: UUID, body: str, stored: list[tuple[UUID, str, CleanImage]]
) -> UUID:
    row = conn.execute(
        "insert into support_messages (ticket_id, user_id, author, body) values (%s, %s, 'user', %s) returning id",
        (ticket_id, user_id, body),
    ).fetchone()
    if row is None:
        raise RuntimeError("insert returned nothing")
    for position, (attachment_id, key, image) in enumerate(stored):
        conn.execute(
            """insert into support_attachments
                   (id, message_id, user_id, position, storage_key, content_type, width, height, bytes, sha256)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                attachment_id,
                row["id"],
                user_id,
                position,
                key,
                image.content_type,
                image.width,
                image.height,
                len(image.data),
                hashlib.sha256(image.data).hexdigest(),
            ),
        )
    message_id: UUID = row["id"]
    return message_id


def _appealable(conn: Connection, user_id: UUID, decision_id: UUID) -> None:
    """The caller's own decision that went against them (another's is 404), not appealed yet (409)."""
    decision = decisions.get(conn, decision_id, user_id=user_id)
    if decision.outcome == "allowed":
        raise NotFound("No such moderation decision.", code="decision_not_found")
    taken = conn.execute("select id from support_tickets where decision_id = %s", (decision_id,)).fetchone()
    if taken is not None:
        raise AlreadyAppealed(f"This decision is appealed already (ticket {taken['id']}).")


def open_ticket(
    db: Database,
    storage: Storage,
    *,
    user_id: UUID,
    subject: str,
    message: str,
    images: Sequence[CleanImage],
    decision_id: UUID | None = None,
) -> Ticket:
    """Open a ticket; with `decision_id` it is an appeal (topic `appeal`) against that moderation decision."""
    check_text(subject, message)
    check_attachment_count(len(images))
    if decision_id is not None:
        with db.transaction() as conn:
            _appealable(conn, user_id, decision_id)  # before any attachment is stored
    stored = _store(storage, user_id, images)
    try:
        with db.transaction() as conn:
            locks.check_writable(conn, user_id)  # attachments racing the account's erasure leave nothing
            if decision_id is not None:
                _appealable(conn, user_id, decision_id)
            row = conn.execute(
                """insert into support_tickets (user_id, subject, topic, decision_id)
                   values (%s, %s, %s, %s) on conflict do nothing returning id""",
                (user_id, subject.strip(), "appeal" if decision_id else "general", decision_id),
            ).fetchone()
            if row is None and decision_id is not None:  # a concurrent appeal of the same decision won
                raise AlreadyAppealed("This decision is appealed already.")
            if row is None:
                raise RuntimeError("insert returned nothing")
            _insert_message(conn, user_id, row["id"], message, stored)
            return get_ticket(conn, user_id, row["id"])
    except BaseException:
        storage.delete([key for _, key, _ in stored])
        raise


def add_message(
    db: Database, storage: Storage, *, user_id: UUID, ticket_id: UUID, message: str, images: Sequence[CleanImage]
) -> Message:
    check_text(None, message)
    check_attachment_count(len(images))
    with db.transaction() as conn:
        _owned(conn, user_id, ticket_id)
    stored = _store(storage, user_id, images)
    try:
        with db.transaction() as conn:
            locks.check_writable(conn, user_id)
            _owned(conn, user_id, ticket_id, lock=True)
            message_id = _insert_message(conn, user_id, ticket_id, message, stored)
            conn.execute(
                "update support_tickets set updated_at = clock_timestamp(), status = 'open' where id = %s",
                (ticket_id,),
            )
            ticket = get_ticket(conn, user_id, ticket_id)
    except BaseException:
        storage.delete([key for _, key, _ in stored])
        raise
    return next(m for m in ticket.messages if m.id == message_id)


def _owned(conn: Connection, user_id: UUID, ticket_id: UUID, *, lock: bool = False) -> dict[str, Any]:
    row = conn.execute(
        "select id, subject, status, created_at, updated_at, topic, decision_id, appeal_outcome from support_tickets "
        "where id = %s and user_id = %s" + (" for update" if lock else ""),
        (ticket_id, user_id),
    ).fetchone()
    if row is None:
        raise NotFound("No such support ticket.")
    return row


def get_ticket(conn: Connection, user_id: UUID, ticket_id: UUID) -> Ticket:
    ticket = _owned(conn, user_id, ticket_id)
    return _with_messages(conn, [ticket])[0]


def _with_messages(conn: Connection, tickets: list[dict[str, Any]]) -> list[Ticket]:
    ids = [t["id"] for t in tickets]
    messages = conn.execute(
        """select id, ticket_id, author, body, created_at from support_messages
           where ticket_id = any(%s) order by created_at, id""",
        (ids,),
    ).fetchall()
    attachments = conn.execute(
        """select id, message_id, storage_key, content_type, width, height, bytes from support_attachments
           where message_id = any(%s) order by message_id, position""",
        ([m["id"] for m in messages],),
    ).fetchall()
    by_message: dict[UUID, list[Attachment]] = {}
    for a in attachments:
        by_message.setdefault(a["message_id"], []).append(
            Attachment(a["id"], a["storage_key"], a["content_type"], a["width"], a["height"], a["bytes"])
        )
    by_ticket: dict[UUID, list[Message]] = {}
    for m in messages:
        by_ticket.setdefault(m["ticket_id"], []).append(
            Message(m["id"], m["author"], m["body"], m["created_at"], by_message.get(m["id"], []))
        )
    return [
        Ticket(
            t["id"],
            t["subject"],
            t["status"],
            t["created_at"],
            t["updated_at"],
            by_ticket.get(t["id"], []),
            t["topic"],
            t["decision_id"],
            t["appeal_outcome"],
        )
        for t in tickets
    ]


def list_tickets(conn: Connection, user_id: UUID, *, cursor: Cursor | None, limit: int) -> Page[Ticket]:
    rows = conn.execute(
        """select id, subject, status, created_at, updated_at, topic, decision_id, appeal_outcome from support_tickets
           where user_id = %(uid)s and (%(at)s::timestamptz is null or (created_at, id) < (%(at)s, %(id)s))
           order by created_at desc, id desc limit %(limit)s""",
        {
            "uid": user_id,
            "at": cursor.created_at if cursor else None,
            "id": cursor.id if cursor else None,
            "limit": limit + 1,
        },
    ).fetchall()
    page = page_of(rows, limit, lambda r: Cursor(r["created_at"], r["id"]))
    return Page(_with_messages(conn, page.items), page.next_cursor)
