"""Judging images and recording the decisions: the one rule for uploads, support attachments and outputs.

Classifying may be a remote call (the API on Modal asks `classify_image`), so it runs outside any transaction; every
decision is then recorded in one short transaction, and the ones a person must be told about get a statement of
reasons with "Appeal" (shared/trust/notices.py): each flagged upload, and one per job whose outputs were blocked.
ModerationUnavailable passes up and records nothing. Never the image itself is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from shared.kit.db import Database
from shared.moderation import ImageVerdict, Moderator, Stage


def judge_and_record(
    db: Database,
    moderator: Moderator,
    images: Sequence[tuple[bytes, str]],
    *,
    user_id: UUID,
    stage: Stage,
    job_id: UUID | None = None,
) -> list[ImageVerdict]:
    """Judge each (bytes, content type), record every decision, state the reasons a person is owed; the verdicts
    come back in order."""
    verdicts = [moderator.judge_image(data, content_type, stage) for data, content_type in images]
    if not verdicts:
        return verdicts
    # Lazy: the API starts without the decisions' records; the first image judged loads them (LOADED_BY_THEIR_CALLS).
    from shared.trust import decisions  # noqa: PLC0415

    with db.transaction() as conn:
        stated = False
        for verdict in verdicts:
            decision_id = decisions.record(conn, user_id=user_id, stage=stage, verdict=verdict, job_id=job_id)
            # Lazy: statements (and their mail) are owed only for flagged or blocked images, not to start the API.
            from shared.trust import notices  # noqa: PLC0415

            if stage == "upload" and verdict.outcome == "flagged":  # stored, but queued for a person to review
                notices.state_automated(conn, decision_id)
            elif stage == "output" and not verdict.allowed and not stated:  # one statement per job
                notices.state_automated(conn, decision_id)
                stated = True
    return verdicts
