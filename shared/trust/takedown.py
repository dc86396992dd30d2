"""Operator takedown and restore of an image: out of the gallery at once, the owner told why and how to contest.

The media row is locked, so two operators (or two runs of the same command) taking one image down at once
produce one takedown, one notice, one email and one audit row. Restoring lets the owner publish again; it
does not publish by itself.
"""

from __future__ import annotations

from uuid import UUID

from config.values import value
from shared import audit
from shared.kit.db.database import Connection
from shared.kit.errors import BadRequest, NotFound
from shared.media import repo as media_repo
from shared.trust import decisions
from shared.trust.notices import CONTEST, notify

OPERATOR = "operator"
MAX_REASON = 1000


@value
class TakedownChange:
    media_id: UUID
    changed: bool  # False when it already was in the asked state


def _locked(conn: Connection, media_id: UUID) -> tuple[UUID, bool]:
    row = conn.execute(
        """select user_id, taken_down_at is not null as down from media
            where id = %s and kind = 'output' and deleted_at is null for update""",
        (media_id,),
    ).fetchone()
    if row is None:
        raise NotFound("No such generated image.", code="media_not_found")
    return row["user_id"], bool(row["down"])


def takedown(conn: Connection, media_id: UUID, *, reason: str) -> TakedownChange:
    text = (reason or "").strip()
    if not text:
        raise BadRequest("A takedown needs a reason.", code="reason_required")
    if len(text) > MAX_REASON:
        raise BadRequest(f"The reason is longer than {MAX_REASON} characters.", code="reason_too_long")
    owner, down = _locked(conn, media_id)
    if down:
        return TakedownChange(media_id, changed=False)
    media_repo.take_down(conn, media_id, reason=text)
    reports = conn.execute("select count(*) as n from gallery_reports where media_id = %s", (media_id,)).fetchone()
    decision = decisions.record_operator(conn, user_id=owner, stage="takedown", reason=text, media_id=media_id)
    notify(
        conn,
        owner,
        kind="content_takedown",
        title="An image of yours was removed from the gallery",
        body=(
            f"We removed image {media_id} from the public gallery; it cannot be published again unless a "
            "review restores it.\n\n"
            f"Reason: {text}\n\n{decisions.statement(decision)}\n\n"
            f"It stays in your history, and you can still download or delete it. {CONTEST}"
        ),
        decision_id=decision.id,
    )
    audit.record(
        conn,
        actor=OPERATOR,
        action="media.takedown",
        subject_id=owner,
        details={"media_id": str(media_id), "reports": int(reports["n"]) if reports else 0},
    )
    return TakedownChange(media_id, changed=True)


def restore(conn: Connection, media_id: UUID, *, tell_owner: bool = True) -> TakedownChange:
    """Lift a takedown (its decision is overturned); `tell_owner=False` when the caller tells them (an appeal)."""
    owner, down = _locked(conn, media_id)
    if not down:
        return TakedownChange(media_id, changed=False)
    media_repo.restore_taken_down(conn, media_id)
    found = decisions.latest_operator(conn, stage="takedown", user_id=owner, media_id=media_id)
    if found is not None:
        decisions.overturn(conn, found.id)
    if tell_owner:
        notify(
            conn,
            owner,
            kind="content_restored",
            title="An image of yours was restored",
            body=f"After review, image {media_id} may be published in the gallery again.",
        )
    audit.record(conn, actor=OPERATOR, action="media.restore", subject_id=owner, details={"media_id": str(media_id)})
    return TakedownChange(media_id, changed=True)
