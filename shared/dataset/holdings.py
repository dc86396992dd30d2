"""What one account has in the dataset: found by its keyed reference, so nobody else's items are touched.

Light on imports: the API (GET /v1/me/preferences) and the data export read it.
"""

from __future__ import annotations

from uuid import UUID

from shared.dataset.keys import subject_ref
from shared.kit.db.database import Connection


def versions_holding(conn: Connection, *, key: bytes, user_id: UUID) -> dict[str, int]:
    """How many of this account's images each dataset version holds now."""
    rows = conn.execute(
        """select version, count(*) as items from improvement_dataset_items
            where subject_ref = %s and stored and withdrawn_revision is null group by version order by version""",
        (subject_ref(key, user_id),),
    ).fetchall()
    return {row["version"]: int(row["items"]) for row in rows}
