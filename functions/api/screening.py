"""Images people send are judged before anything of them is stored: uploads and support attachments, one rule.

Classifying may be a remote call (the API on Modal asks `classify_image`), so it runs outside any transaction;
every decision is then recorded in one short transaction, and one blocked image refuses the whole request.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from shared.kit.db import Database
from shared.media.images import CleanImage
from shared.moderation import ContentBlocked, Moderator
from shared.trust import screening


def judge_uploads(
    db: Database, moderator: Moderator, user_id: UUID, images: Sequence[CleanImage], *, refusal: str
) -> None:
    """Raise ContentBlocked (`refusal` as its message) if any image is blocked; ModerationUnavailable passes up."""
    pairs = [(image.data, image.content_type) for image in images]
    verdicts = screening.judge_and_record(db, moderator, pairs, user_id=user_id, stage="upload")
    if not all(verdict.allowed for verdict in verdicts):
        raise ContentBlocked(refusal)
