"""Recording moderation decisions with their statement of reasons, and reading them back for an appeal.

A classifier decision records what was checked, when, by which model, with what score (never the image); an
operator's (takedown, suspension) records the reason given. Every decision that affects a person is told to them
in a notice that states the reasons and links back here, so they can appeal it (shared/support/appeals.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from config.values import value
from shared.kit.db.database import Connection
from shared.kit.errors import NotFound
from shared.moderation import ImageVerdict, Stage

OperatorStage = Literal["takedown", "suspension"]
OPERATOR_MODEL = "operator"

# What each kind of decision is, in the words of a statement of reasons.
WHAT = {
    "output": "A generated image was blocked before it was stored",
    "upload": "An image you uploaded was checked",
    "publish": "An image you tried to publish was checked",
    "takedown": "An image was removed from the public gallery",
    "suspension": "Your account was suspended",
}


@value
class Decision:
    id: UUID
    user_id: UUID
    stage: str
    job_id: UUID | None
    media_id: UUID | None
    model: str
    category: str | None
    score: float
    threshold: float
    outcome: str
    reason: str | None
    created_at: datetime
    overturned_at: datetime | None

    @property
    def by_operator(self) -> bool:
        return self.model == OPERATOR_MODEL


_COLUMNS = (
    "id, user_id, stage, job_id, media_id, model, category, score, threshold, outcome, reason, created_at, "
    "overturned_at"
)


def record(
    conn: Connection,
    *,
    user_id: UUID,
    stage: Stage,
    verdict: ImageVerdict,
    job_id: UUID | None = None,
    media_id: UUID | None = None,
) -> UUID:
    row = conn.execute(
        """insert into moderation_decisions (user_id, stage, job_id, media_id, model, category, score, threshold,
                                             outcome)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning id""",
        (
            user_id, stage, job_id, media_id, verdict.model, verdict.category,
            min(1.0, max(0.0, verdict.score)), verdict.threshold, verdict.outcome,
        ),
    ).fetchone()  # fmt: skip
    if row is None:  # pragma: no cover - insert ... returning always yields the row
        raise RuntimeError("insert returned nothing")
    decision_id: UUID = row["id"]
    return decision_id


def record_operator(
    conn: Connection, *, user_id: UUID, stage: OperatorStage, reason: str, media_id: UUID | None = None
) -> Decision:
    """An operator's decision (takedown, suspension) with the reason given."""
    row = conn.execute(
        f"""insert into moderation_decisions (user_id, stage, media_id, model, score, threshold, outcome, reason)
            values (%s, %s, %s, %s, 1, 1, 'blocked', %s) returning {_COLUMNS}""",
        (user_id, stage, media_id, OPERATOR_MODEL, reason),
    ).fetchone()
    if row is None:  # pragma: no cover
        raise RuntimeError("insert returned nothing")
    return Decision(**row)


def get(conn: Connection, decision_id: UUID, *, user_id: UUID | None = None) -> Decision:
    """A decision (the person's own when `user_id` is given: another's is NotFound, as every resource)."""
    row = conn.execute(
        f"select {_COLUMNS} from moderation_decisions where id = %s and (%s::uuid is null or user_id = %s)",
        (decision_id, user_id, user_id),
    ).fetchone()
    if row is None:
        raise NotFound("No such moderation decision.", code="decision_not_found")
    return Decision(**row)


def latest_operator(conn: Connection, *, stage: OperatorStage, user_id: UUID, media_id: UUID | None) -> Decision | None:
    row = conn.execute(
        f"""select {_COLUMNS} from moderation_decisions
             where stage = %s and user_id = %s and media_id is not distinct from %s and overturned_at is null
             order by created_at desc, id desc limit 1""",
        (stage, user_id, media_id),
    ).fetchone()
    return Decision(**row) if row else None


def overturn(conn: Connection, decision_id: UUID) -> None:
    """Mark a decision overturned on review (a flag leaves the moderation queue)."""
    conn.execute(
        "update moderation_decisions set overturned_at = coalesce(overturned_at, now()) where id = %s", (decision_id,)
    )


def statement(decision: Decision) -> str:
    """The statement of reasons: what was decided, on which rule or by which classifier, and when (UTC)."""
    when = f"{decision.created_at:%Y-%m-%d %H:%M} UTC"
    what = WHAT.get(decision.stage, "A moderation decision was made")
    if decision.by_operator:
        rule = f"a person at Atelier, under our terms' acceptable-use rules. Reason given: {decision.reason}"
    else:
        outcome = {"blocked": "blocked", "flagged": "flagged for a person to review"}.get(decision.outcome, "allowed")
        category = decision.category or "content policy"
        rule = (
            f"the image classifier {decision.model}, which scored it {decision.score:.2f} for the category "
            f"'{category}' against a threshold of {decision.threshold:.2f}, so it was {outcome}"
        )
    return f"What: {what}.\nDecided by: {rule}.\nWhen: {when}.\nDecision id: {decision.id}."
