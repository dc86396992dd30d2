"""Appeals against moderation decisions: a support ticket of topic `appeal` linked to the decision it contests.

The person opens one from the notice that stated the reasons (POST /v1/support/tickets with `decision_id`). An
operator lists them (`deploy.py moderation appeals`) and decides (`deploy.py moderation appeal-decide`):
restoring overturns the decision (a takedown is lifted, a suspension ended, a classifier block or flag marked
overturned), confirming keeps it. Either way the ticket gets the operator's note and is closed, the person is told
in one notice (with its email) that they see in Notices, and the audit log records the outcome by ids only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from config.values import value
from shared import audit
from shared.kit.db.database import Connection
from shared.kit.errors import Conflict, NotFound
from shared.support.rules import check_text
from shared.trust import decisions, suspension, takedown
from shared.trust.notices import notify

Outcome = Literal["restored", "confirmed"]


class AppealDecided(Conflict):
    """This appeal has been decided already."""

    code = "appeal_already_decided"


@value
class Appeal:
    ticket_id: UUID
    status: str
    created_at: datetime
    user_id: UUID | None
    decision_id: UUID | None
    stage: str | None
    media_id: UUID | None
    decided_by: str | None  # the classifier model, or "operator"
    outcome: str | None
    decided_at: datetime | None


_APPEALS = """
select t.id as ticket_id, t.status, t.created_at, t.user_id, t.decision_id, d.stage, d.media_id,
       d.model as decided_by, t.appeal_outcome as outcome, t.appeal_decided_at as decided_at
  from support_tickets t left join moderation_decisions d on d.id = t.decision_id
 where t.topic = 'appeal'
"""


def list_appeals(conn: Connection, *, undecided_only: bool = True, limit: int = 100) -> list[Appeal]:
    """Oldest first among undecided ones (who waits longest), else newest first."""
    if undecided_only:
        sql = f"{_APPEALS} and t.appeal_outcome is null order by t.created_at, t.id limit %s"
    else:
        sql = f"{_APPEALS} order by t.created_at desc, t.id desc limit %s"
    return [Appeal(**row) for row in conn.execute(sql, (limit,)).fetchall()]


def line(appeal: Appeal) -> str:
    """One line per appeal for the operator's terminal: ids, states and dates, no text."""
    target = f"media {appeal.media_id}" if appeal.media_id else "account"
    state = appeal.outcome or "undecided"
    return (
        f"{appeal.ticket_id}  {state:10} {appeal.stage or '?':10} decision {appeal.decision_id}  {target}  "
        f"by {appeal.decided_by or '?'}  opened {appeal.created_at:%Y-%m-%d %H:%M}"
    )


_TOLD = {
    "restored": (
        "Your appeal was upheld",
        {
            "takedown": "The image may be published in the gallery again.",
            "suspension": "Your account is active again; everything works again.",
            "output": "The block is lifted on review. The image was not kept, so generate it again if you like; "
            "the credits were returned at the time.",
            "upload": "The flag is lifted; the image is no longer queued for review.",
            "publish": "The decision is lifted; you may publish the image again.",
        },
    ),
    "confirmed": ("Your appeal was reviewed: the decision stands", {}),
}


def decide(conn: Connection, ticket_id: UUID, *, outcome: Outcome, note: str, now: datetime) -> Appeal:
    """Restore or confirm the decision an appeal contests, answer the person and audit it (once per appeal)."""
    check_text(None, note)
    ticket = conn.execute(
        "select id, user_id, decision_id, appeal_outcome from support_tickets where id = %s and topic = 'appeal' "
        "for update",
        (ticket_id,),
    ).fetchone()
    if ticket is None or ticket["decision_id"] is None or ticket["user_id"] is None:
        raise NotFound("No such appeal.", code="appeal_not_found")
    if ticket["appeal_outcome"] is not None:
        raise AppealDecided(f"This appeal was {ticket['appeal_outcome']} already.")
    decision = decisions.get(conn, ticket["decision_id"])
    if outcome == "restored":
        if decision.stage == "takedown" and decision.media_id is not None:
            takedown.restore(conn, decision.media_id, tell_owner=False)
        elif decision.stage == "suspension":
            suspension.unsuspend_account(conn, decision.user_id, tell_owner=False)
        decisions.overturn(conn, decision.id)
    title, effects = _TOLD[outcome]
    effect = effects.get(decision.stage, "")
    body = f"We reviewed your appeal against decision {decision.id} ({decisions.WHAT.get(decision.stage, '')})."
    body += f"\n\n{effect}" if effect else ""
    body += f"\n\nFrom the reviewer: {note.strip()}"
    conn.execute(
        """insert into support_messages (ticket_id, user_id, author, body, created_at)
           values (%s, %s, 'staff', %s, greatest(%s, clock_timestamp()))""",
        (ticket_id, ticket["user_id"], body, now),
    )
    conn.execute(
        """update support_tickets set status = 'closed', appeal_outcome = %s, appeal_decided_at = %s,
                  updated_at = clock_timestamp() where id = %s""",
        (outcome, now, ticket_id),
    )
    notify(conn, ticket["user_id"], kind="appeal_decided", title=title, body=body, decision_id=decision.id)
    audit.record(
        conn,
        actor="operator",
        action=f"appeal.{outcome}",
        subject_id=ticket["user_id"],
        details={"ticket_id": str(ticket_id), "decision_id": str(decision.id), "stage": decision.stage},
    )
    row = conn.execute(f"{_APPEALS} and t.id = %s", (ticket_id,)).fetchone()
    if row is None:  # pragma: no cover - the row was locked above
        raise NotFound("No such appeal.", code="appeal_not_found")
    return Appeal(**row)
