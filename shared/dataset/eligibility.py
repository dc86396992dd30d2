"""Which images may go into the service-improvement dataset, decided in one SQL condition at build and purge.

Outputs only (never uploads or masks, never an image used as the input of an edit), with no upload in their
lineage (`media.upload_lineage`, set when the output is recorded by following its job's input image and mask back:
an edit, inpainting, upscale or variation of a person's upload, or anything made from one, never goes in), not
deleted, not taken down and never flagged or blocked by moderation, of accounts that allow
`service_improvement` now (their latest consent event, or the default ATELIER_IMPROVEMENT_DEFAULT when they
never chose) and are not restricted, suspended or awaiting erasure. The privacy guard (`can_process`) answers
with the same choice rule.
"""

from __future__ import annotations

from datetime import datetime
from math import gcd
from typing import Literal
from uuid import UUID

from config.values import value
from shared.kit.db.database import Connection

Default = Literal["opt_in", "opt_out"]

# The person's choice in force: their latest consent event's category, else the default (%(default_on)s).
CHOICE_SQL = """coalesce((select (c.categories ->> 'service_improvement')::boolean
                            from consent_events c where c.user_id = a.id
                           order by c.created_at desc, c.id desc limit 1), %(default_on)s)"""

ELIGIBLE_SQL = f"""
select m.id, m.user_id, m.storage_key, m.task, m.model, m.width, m.height, m.created_at
  from media m join accounts a on a.id = m.user_id
 where m.kind = 'output'
   and m.deleted_at is null
   and m.taken_down_at is null
   and not m.upload_lineage
   and not exists (select 1 from jobs j where j.image_id = m.id or j.mask_id = m.id)
   and not exists (select 1 from moderation_decisions d where d.media_id = m.id and d.outcome <> 'allowed')
   and a.restricted_at is null
   and a.suspended_at is null
   and not exists (select 1 from account_erasures e where e.user_id = a.id)
   and {CHOICE_SQL}
   and (%(only)s::uuid is null or m.id = %(only)s::uuid)
 order by m.created_at, m.id"""


@value
class Candidate:
    media_id: UUID
    user_id: UUID
    storage_key: str
    task: str | None
    model: str | None
    aspect_ratio: str
    created_month: str


def aspect_ratio(width: int, height: int) -> str:
    divisor = gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"


def month_of(moment: datetime) -> str:
    """The month only: the exact time could single a person out."""
    return moment.strftime("%Y-%m")


def eligible(conn: Connection, *, default: Default, only: UUID | None = None) -> list[Candidate]:
    rows = conn.execute(ELIGIBLE_SQL, {"default_on": default == "opt_out", "only": only}).fetchall()
    return [
        Candidate(
            row["id"],
            row["user_id"],
            row["storage_key"],
            row["task"],
            row["model"],
            aspect_ratio(row["width"], row["height"]),
            month_of(row["created_at"]),
        )
        for row in rows
    ]


def choice_allows(conn: Connection, user_id: UUID, *, default: Default) -> bool:
    """The person's service-improvement choice in force (restriction and the other states not considered)."""
    row = conn.execute(
        f"select {CHOICE_SQL} as allowed from accounts a where a.id = %(uid)s",
        {"uid": user_id, "default_on": default == "opt_out"},
    ).fetchone()
    return bool(row and row["allowed"])
