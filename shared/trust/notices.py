"""Telling an owner what moderation did: one in-app notice that states the reasons, mirrored by one queued email.

The email row points at the notice, so the mail says exactly what the app shows (the reason and how to
contest) without the outbox keeping a second copy of the text; the address is read only at send time. A notice
about a decision links to it (`decision_id`), so the app offers "Appeal" right there. Automated decisions the
person sees as they happen (a blocked output, a flagged upload) get the notice only, no mail.
"""

from __future__ import annotations

from uuid import UUID

from shared.kit.db.database import Connection
from shared.notify import notifications, outbox
from shared.trust import decisions

CONTEST = (
    "If you think this is a mistake, use Appeal on this notice in Notices within 6 months: it opens a ticket in "
    "Support linked to this decision, a person reviews it, and you are told the outcome here and by email."
)


def notify(
    conn: Connection,
    user_id: UUID,
    *,
    kind: str,
    title: str,
    body: str,
    decision_id: UUID | None = None,
    mail: bool = True,
) -> UUID:
    """Queue the notice (and, unless `mail` is False, its email) in the caller's transaction; returns its id."""
    notice_id = notifications.post(conn, user_id, kind=kind, title=title, body=body, decision_id=decision_id)
    if mail:
        # The mail's template is the notice's kind (shared/notify/mails.py renders the notice's title and text).
        outbox.enqueue(conn, kind, user_id=user_id, notification_id=notice_id)
    return notice_id


def state_automated(conn: Connection, decision_id: UUID) -> UUID:
    """The in-app statement of reasons for a classifier decision that blocked an output or flagged an image."""
    decision = decisions.get(conn, decision_id)
    title = {
        "output": "A generated image was blocked",
        "upload": "An image you sent was flagged for review",
        "publish": "An image was kept out of the gallery",
    }.get(decision.stage, "A moderation decision")
    effect = {
        "output": "The image was not stored and the credits for it were returned.",
        "upload": "It was stored and works as usual; a person may review it.",
        "publish": "It stays private.",
    }.get(decision.stage, "")
    body = f"{decisions.statement(decision)}\n\n{effect} {CONTEST}"
    return notify(
        conn, decision.user_id, kind=f"moderation_{decision.stage}", title=title, body=body, decision_id=decision.id,
        mail=False,
    )  # fmt: skip
