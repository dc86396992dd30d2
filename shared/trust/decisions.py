"""Recording image moderation decisions: what was checked, when, by which model, with what score. Never the image."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.moderation import ImageVerdict, Moderator, Stage


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


def judge_and_record(
    db: Database,
    moderator: Moderator,
    images: Sequence[tuple[bytes, str]],
    *,
    user_id: UUID,
    stage: Stage,
    job_id: UUID | None = None,
) -> list[ImageVerdict]:
    """Judge each (bytes, content type) and record every decision in one short transaction; the verdicts come back
    in order. Classifying may be a remote call, so it runs outside any transaction; ModerationUnavailable passes up
    and records nothing. The one rule for uploads, attachments (functions/api/screening.py) and outputs (worker)."""
    verdicts = [moderator.judge_image(data, content_type, stage) for data, content_type in images]
    if verdicts:
        with db.transaction() as conn:
            for verdict in verdicts:
                record(conn, user_id=user_id, stage=stage, verdict=verdict, job_id=job_id)
    return verdicts
