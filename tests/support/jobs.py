"""A jobs row for tests that need one to exist (outputs reference their job by foreign key)."""

from __future__ import annotations

import uuid

from shared.kit.db.database import Connection


def job_row(conn: Connection, user_id: uuid.UUID, *, model: str = "flux-schnell") -> uuid.UUID:
    """Insert a queued text-to-image job directly (no credits held) and return its id."""
    job_id = uuid.uuid4()
    conn.execute(
        """insert into jobs (id, user_id, task, model, cost, request_sha256, deadline_at)
           values (%s, %s, 'text_to_image', %s, 0, 'test', now() + interval '1 hour')""",
        (job_id, user_id, model),
    )
    return job_id
