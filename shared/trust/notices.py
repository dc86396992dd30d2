"""Telling an owner what moderation did: one in-app notice, mirrored by one queued email.

The email row points at the notice, so the mail says exactly what the app shows (the reason and how to
contest) without the outbox keeping a second copy of the text; the address is read only at send time.
"""

from __future__ import annotations

from uuid import UUID

from shared.kit.db.database import Connection
from shared.notify import notifications, outbox

CONTEST = (
    "If you think this is a mistake, write to Support (a support ticket) within 6 months and a person will review it."
)


def notify(conn: Connection, user_id: UUID, *, kind: str, title: str, body: str) -> UUID:
    """Queue the notice and its email in the caller's transaction; returns the notice id."""
    notice_id = notifications.post(conn, user_id, kind=kind, title=title, body=body)
    # The mail's template is the notice's kind (shared/notify/mails.py renders the notice's title and text).
    outbox.enqueue(conn, kind, user_id=user_id, notification_id=notice_id)
    return notice_id
