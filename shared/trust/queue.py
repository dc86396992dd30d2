"""The moderation queue: images with reports or an automatic flag, not yet taken down, newest signal first.

A flag raised when an output was rendered is attributed to the outputs of its job (the image had no id yet).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from config.values import value
from shared.kit.db.database import Connection


@value
class QueueItem:
    media_id: UUID
    storage_key: str  # to make a short-lived review link for the operator
    public: bool
    reports: int
    reasons: tuple[str, ...]
    flags: int
    top_score: float | None
    last_signal_at: datetime


def queue(conn: Connection, *, limit: int = 100) -> list[QueueItem]:
    rows = conn.execute(
        """with reported as (
               select media_id, count(*) as reports, array_agg(distinct reason order by reason) as reasons,
                      max(created_at) as last_at
                 from gallery_reports group by media_id),
           flagged as (  -- a publish check names the image; an output check names its job
               select o.id as media_id, count(*) as flags, max(d.score) as top_score, max(d.created_at) as last_at
                 from moderation_decisions d
                 join media o on o.id = d.media_id or (d.media_id is null and d.job_id = o.job_id)
                where d.outcome <> 'allowed' and d.overturned_at is null and d.model <> 'operator'
                group by o.id)
           select m.id as media_id, m.storage_key, m.public, coalesce(r.reports, 0) as reports,
                  coalesce(r.reasons, '{}') as reasons, coalesce(f.flags, 0) as flags, f.top_score,
                  greatest(r.last_at, f.last_at) as last_signal_at
             from media m
             left join reported r on r.media_id = m.id
             left join flagged f on f.media_id = m.id
            where (r.media_id is not null or f.media_id is not null)
              and m.deleted_at is null and m.taken_down_at is null
            order by last_signal_at desc, m.id desc
            limit %s""",
        (limit,),
    ).fetchall()
    return [
        QueueItem(
            media_id=row["media_id"],
            storage_key=row["storage_key"],
            public=row["public"],
            reports=row["reports"],
            reasons=tuple(row["reasons"]),
            flags=row["flags"],
            top_score=row["top_score"],
            last_signal_at=row["last_signal_at"],
        )
        for row in rows
    ]
