"""SQL for the media table."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.access.guard import GALLERY_OWNER_SQL
from shared.kit.db.database import Connection
from shared.kit.pagination import Cursor
from shared.media.models import GalleryItem, MediaFilter, MediaItem, MediaKind

_STORED = (
    "id, user_id, kind, job_id, storage_key, content_type, width, height, bytes, sha256, task, model, prompt,"
    " public, published_at, created_at, deleted_at, purge_after, thumbnail_key, digital_source_type, c2pa_manifest,"
    " taken_down_at, takedown_reason"
)
_FIELDS = [name.strip() for name in _STORED.split(",")] + ["seed"]
# The seed lives on the job (every output of a job shares it); read with the row, never copied.
# Upscales and captions make nothing from noise: their outputs report no seed (rows from before this rule included).
COLUMNS = (
    _STORED + ", (select case when j.task in ('upscale', 'image_to_prompt') then null else j.seed end"
    " from jobs j where j.id = media.job_id) as seed"
)

# Whose published outputs the gallery may show: the privacy guard's own condition (restriction, pending
# erasure and the gallery-display objection), so the gallery and `can_process(..., "gallery")` agree.
GALLERY_OWNER_VISIBLE = GALLERY_OWNER_SQL


def _item(row: dict[str, Any]) -> MediaItem:
    return MediaItem(**{name: row[name] for name in _FIELDS})


def insert(conn: Connection, values: dict[str, Any]) -> MediaItem:
    row = conn.execute(
        f"""insert into media (id, user_id, kind, job_id, storage_key, content_type, width, height, bytes, sha256,
                               task, model, prompt, thumbnail_key, digital_source_type, c2pa_manifest)
            values (%(id)s, %(user_id)s, %(kind)s, %(job_id)s, %(storage_key)s, %(content_type)s, %(width)s,
                    %(height)s, %(bytes)s, %(sha256)s, %(task)s, %(model)s, %(prompt)s, %(thumbnail_key)s,
                    %(digital_source_type)s, %(c2pa_manifest)s)
            returning {COLUMNS}""",
        values,
    ).fetchone()
    if row is None:  # pragma: no cover - insert ... returning always yields the row
        raise RuntimeError("media insert returned nothing")
    return _item(row)


def get_visible(
    conn: Connection, user_id: UUID, media_id: UUID, kinds: tuple[MediaKind, ...], *, lock: bool = False
) -> MediaItem | None:
    row = conn.execute(
        f"""select {COLUMNS} from media
            where id = %s and user_id = %s and deleted_at is null and kind = any(%s)
            {"for update" if lock else ""}""",
        (media_id, user_id, list(kinds)),
    ).fetchone()
    return _item(row) if row else None


def by_key(conn: Connection, storage_key: str) -> MediaItem | None:
    """The item whose original or thumbnail is stored at this key."""
    row = conn.execute(
        f"select {COLUMNS} from media where storage_key = %(key)s or thumbnail_key = %(key)s", {"key": storage_key}
    ).fetchone()
    return _item(row) if row else None


def outputs_of_job(conn: Connection, user_id: UUID, job_id: UUID) -> list[MediaItem]:
    rows = conn.execute(
        f"""select {COLUMNS} from media
            where user_id = %s and job_id = %s and kind = 'output' and deleted_at is null
            order by created_at, id""",
        (user_id, job_id),
    ).fetchall()
    return [_item(row) for row in rows]


def has_search_words(q: str | None) -> bool:
    """Whether a search holds a letter or digit; one of only punctuation (or nothing) filters nothing."""
    return re.search(r"[^\W_]", q or "") is not None


def list_visible(
    conn: Connection, user_id: UUID, filters: MediaFilter, cursor: Cursor | None, limit: int
) -> list[MediaItem]:
    clauses = ["user_id = %(user_id)s", "deleted_at is null"]
    params: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
    if filters.kind is not None:
        clauses.append("kind = %(kind)s")
        params["kind"] = filters.kind
    if filters.task is not None:
        clauses.append("task = %(task)s")
        params["task"] = filters.task
    if filters.model is not None:
        clauses.append("model = %(model)s")
        params["model"] = filters.model
    if filters.before is not None:
        clauses.append("created_at < %(before)s")
        params["before"] = filters.before
    if filters.after is not None:
        clauses.append("created_at > %(after)s")
        params["after"] = filters.after
    if has_search_words(filters.q):  # the expression of the media_prompt_search index (migrations 0027, 0031)
        clauses.append("to_tsvector('simple', coalesce(prompt, '')) @@ atelier_prompt_query(%(q)s)")
        params["q"] = filters.q
    if cursor is not None:
        clauses.append("(created_at, id) < (%(c_at)s, %(c_id)s)")
        params["c_at"], params["c_id"] = cursor.created_at, cursor.id
    rows = conn.execute(
        f"""select {COLUMNS} from media where {" and ".join(clauses)}
            order by created_at desc, id desc limit %(limit)s""",
        params,
    ).fetchall()
    return [_item(row) for row in rows]


def set_public(conn: Connection, media_id: UUID, public: bool) -> MediaItem:
    row = conn.execute(
        f"""update media
               set public = %(public)s,
                   published_at = case when not %(public)s then null
                                       when public then published_at
                                       else now() end
             where id = %(id)s
            returning {COLUMNS}""",
        {"id": media_id, "public": public},
    ).fetchone()
    if row is None:  # pragma: no cover - the caller holds the row lock
        raise RuntimeError("media row vanished under its lock")
    return _item(row)


def trash(conn: Connection, user_id: UUID, media_id: UUID, purge_after: datetime) -> MediaItem | None:
    row = conn.execute(
        f"""update media
               set deleted_at = now(), purge_after = %(purge_after)s, public = false,
                   published_at = null
             where id = %(id)s and user_id = %(user_id)s and deleted_at is null
            returning {COLUMNS}""",
        {"id": media_id, "user_id": user_id, "purge_after": purge_after},
    ).fetchone()
    return _item(row) if row else None


def claim_purgeable(
    conn: Connection, now: datetime, lease_until: datetime, limit: int, ids: list[UUID] | None = None
) -> list[tuple[UUID, list[str]]]:
    """Take up to `limit` trashed rows due for purging; rows another purger holds are skipped.

    Their purge_after moves to `lease_until`, so a crashed purge is retried after the lease and a
    concurrent one does not take the same rows once this transaction commits.
    """
    return claim_purgeable_batch(conn, now, lease_until, limit, ids)[0]


def claim_purgeable_batch(
    conn: Connection,
    now: datetime,
    lease_until: datetime,
    limit: int,
    ids: list[UUID] | None = None,
    *,
    after: datetime | None = None,
) -> tuple[list[tuple[UUID, list[str]]], datetime | None]:
    """`claim_purgeable` from the due time `after` on (where the batch before stopped), and the due time of the
    last row taken (for the next batch; None when none was). Starting each batch at the oldest due row instead
    would walk the index entries of every row the batches before deleted (dead until vacuum): a run grows
    quadratically with its backlog (docs/benchmarks.md, "Retention")."""
    only = "and id = any(%(ids)s)" if ids is not None else ""
    since = "and purge_after >= %(after)s" if after is not None else ""
    rows = conn.execute(
        f"""with due as (select id, purge_after from media
                          where deleted_at is not null and purge_after <= %(now)s {only} {since}
                          order by purge_after, id
                          limit %(limit)s
                          for update skip locked)
            update media m set purge_after = %(lease)s from due where m.id = due.id
            returning m.id, m.storage_key, m.thumbnail_key, due.purge_after as due_at""",
        {"now": now, "lease": lease_until, "limit": limit, "ids": ids, "after": after},
    ).fetchall()
    claimed = [(row["id"], [k for k in (row["storage_key"], row["thumbnail_key"]) if k]) for row in rows]
    return claimed, max((row["due_at"] for row in rows), default=None)


def delete_trashed(conn: Connection, ids: list[UUID]) -> int:
    cur = conn.execute("delete from media where id = any(%s) and deleted_at is not null", (ids,))
    return cur.rowcount


_GALLERY = f"""
    select m.id, m.storage_key, m.content_type, m.width, m.height, m.prompt, m.model, m.published_at,
           m.thumbnail_key
      from media m
      join accounts a on a.id = m.user_id
      left join preferences p on p.user_id = m.user_id
     where m.public and m.kind = 'output' and m.deleted_at is null and m.taken_down_at is null
       and a.suspended_at is null
       and {GALLERY_OWNER_VISIBLE}
"""


def gallery(conn: Connection, cursor: Cursor | None, limit: int) -> list[GalleryItem]:
    after = "and (m.published_at, m.id) < (%(c_at)s, %(c_id)s)" if cursor is not None else ""
    rows = conn.execute(
        f"{_GALLERY} {after} order by m.published_at desc, m.id desc limit %(limit)s",
        {
            "limit": limit + 1,
            "c_at": cursor.created_at if cursor else None,
            "c_id": cursor.id if cursor else None,
        },
    ).fetchall()
    return [GalleryItem(**row) for row in rows]


def gallery_one(conn: Connection, media_id: UUID) -> GalleryItem | None:
    row = conn.execute(f"{_GALLERY} and m.id = %(id)s", {"id": media_id}).fetchone()
    return GalleryItem(**row) if row else None


def take_down(conn: Connection, media_id: UUID, *, reason: str) -> None:
    """Withdraw an output from the gallery for good (until restored): it cannot be published again."""
    conn.execute(
        """update media set taken_down_at = now(), takedown_reason = %s, public = false, published_at = null
            where id = %s""",
        (reason, media_id),
    )


def restore_taken_down(conn: Connection, media_id: UUID) -> None:
    """After review: the owner may publish it again (restoring does not publish it)."""
    conn.execute("update media set taken_down_at = null, takedown_reason = null where id = %s", (media_id,))
