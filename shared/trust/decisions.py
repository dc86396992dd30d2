"""Recording image moderation decisions: what was checked, when, by which model, with what score. Never the image."""

from __future__ import annotations

from uuid import UUID

from shared.kit.db.database import Connection
from shared.moderation import ImageVerdict, Stage


def record(
    conn: Connection,
    *,
    user_id: UUID,
    stage: Stage,
    verdict: ImageVerdict,
    job_id: UUID | None = None,
    media_id: UUID | None = None,
) -> None:
    conn.execute(
        """insert into moderation_decisions (user_id, stage, job_id, media_id, model, category, score, threshold,
                                             outcome)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            user_id, stage, job_id, media_id, verdict.model, verdict.category,
            min(1.0, max(0.0, verdict.score)), verdict.threshold, verdict.outcome,
        ),
    )  # fmt: skip
