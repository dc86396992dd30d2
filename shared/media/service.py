"""Rules for media: storing uploads and outputs, ownership, history, publishing, trash and purge.

Object writes are remote calls and happen outside database transactions where the caller allows it:
the object is written first, then the row; if the row cannot be written the object is deleted again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import uuid
from datetime import datetime, timedelta
from uuid import UUID

from config.values import value
from shared.access import locks
from shared.kit.db.database import Connection, Database
from shared.kit.errors import Conflict, NotFound, Unprocessable
from shared.kit.pagination import Cursor, Page, page_of
from shared.media import repo
from shared.media.images import EXTENSIONS, CleanImage
from shared.media.models import KINDS, GalleryItem, MediaFilter, MediaItem, MediaKind
from shared.media.storage import Storage, outputs_prefix, uploads_prefix
from shared.media.thumbnails import THUMBNAIL_TYPE, make_thumbnail, thumbnail_key

log = logging.getLogger("atelier.media")

PURGE_BATCH = 500  # rows per purge transaction; Storage removes at most 1000 names per call
PURGE_LEASE = timedelta(minutes=10)


class NotPublishable(Unprocessable):
    """Only generated outputs can be published to the gallery."""

    code = "not_publishable"


class TakenDown(Conflict):
    """An operator took this image down; it cannot be published again unless it is restored."""

    code = "taken_down"


def new_key(user_id: UUID, kind: MediaKind, media_id: UUID, content_type: str) -> str:
    """Where an item's object lives: always under its owner's prefix."""
    prefix = outputs_prefix(user_id) if kind == "output" else uploads_prefix(user_id)
    return f"{prefix}{media_id}.{EXTENSIONS[content_type]}"


def _values(
    *,
    media_id: UUID,
    user_id: UUID,
    kind: MediaKind,
    key: str,
    data: bytes,
    content_type: str,
    width: int,
    height: int,
    job_id: UUID | None = None,
    task: str | None = None,
    model: str | None = None,
    prompt: str | None = None,
    thumbnail: str | None = None,
    digital_source_type: str | None = None,
    c2pa_manifest: bool = False,
) -> dict[str, object]:
    return {
        "id": media_id,
        "user_id": user_id,
        "kind": kind,
        "job_id": job_id,
        "storage_key": key,
        "content_type": content_type,
        "width": width,
        "height": height,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "task": task,
        "model": model,
        "prompt": prompt,
        "thumbnail_key": thumbnail,
        "digital_source_type": digital_source_type,
        "c2pa_manifest": c2pa_manifest,
    }


def _put_with_thumbnail(
    storage: Storage,
    *,
    user_id: UUID,
    kind: MediaKind,
    media_id: UUID,
    key: str,
    data: bytes,
    content_type: str,
    thumbnail: bytes | None = None,
) -> str | None:
    """Write the image, then its thumbnail (masks get none): `thumbnail` as given (a worker's, marked like its
    output), else made here. Returns the thumbnail's key. If the thumbnail cannot be written the image is deleted
    again, so an item never exists half-stored."""
    storage.put(key, data, content_type)
    if kind == "mask":
        return None
    thumb = thumbnail_key(user_id, media_id)
    try:
        storage.put(thumb, thumbnail if thumbnail is not None else make_thumbnail(data), THUMBNAIL_TYPE)
    except BaseException:
        storage.delete([key, thumb])
        raise
    return thumb


def store_upload(db: Database, storage: Storage, *, user_id: UUID, image: CleanImage, kind: MediaKind) -> MediaItem:
    """Store a validated upload (or mask): object first, then the row in its own short transaction.

    If the row (or its commit) fails, the object is deleted again, so nothing is left behind.
    """
    if kind not in ("upload", "mask"):
        raise ValueError("uploads are stored as 'upload' or 'mask'")
    media_id = uuid.uuid4()
    key = new_key(user_id, kind, media_id, image.content_type)
    thumb = _put_with_thumbnail(
        storage,
        user_id=user_id,
        kind=kind,
        media_id=media_id,
        key=key,
        data=image.data,
        content_type=image.content_type,
    )
    try:
        with db.transaction() as conn:
            locks.check_writable(conn, user_id)  # an upload racing its account's erasure leaves nothing
            return repo.insert(
                conn,
                _values(
                    media_id=media_id,
                    user_id=user_id,
                    kind=kind,
                    key=key,
                    data=image.data,
                    content_type=image.content_type,
                    width=image.width,
                    height=image.height,
                    thumbnail=thumb,
                ),
            )
    except BaseException:
        storage.delete([k for k in (key, thumb) if k])
        raise


@value
class UploadedOutput:
    """A generated image whose object is written but whose row is not: delete it if the row never commits."""

    media_id: UUID
    user_id: UUID
    key: str
    data: bytes
    content_type: str
    width: int
    height: int
    thumbnail_key: str | None
    digital_source_type: str | None = None  # what the provenance marks in `data` say (shared/provenance)
    c2pa_manifest: bool = False


def upload_output(
    storage: Storage,
    *,
    user_id: UUID,
    data: bytes,
    content_type: str,
    width: int,
    height: int,
    digital_source_type: str | None = None,
    c2pa_manifest: bool = False,
    thumbnail: bytes | None = None,
) -> UploadedOutput:
    """Write a generated image's object, before (and outside) the transaction that will record it.

    `thumbnail`: the WebP thumbnail the caller made and marked from `data` (`make_thumbnail`); made here if None."""
    if content_type not in EXTENSIONS:
        raise ValueError(f"unsupported content type for an output: {content_type}")
    media_id = uuid.uuid4()
    key = new_key(user_id, "output", media_id, content_type)
    thumb = _put_with_thumbnail(
        storage,
        user_id=user_id,
        kind="output",
        media_id=media_id,
        key=key,
        data=data,
        content_type=content_type,
        thumbnail=thumbnail,
    )
    return UploadedOutput(
        media_id, user_id, key, data, content_type, width, height, thumb, digital_source_type, c2pa_manifest
    )


def record_output(
    conn: Connection,
    uploaded: UploadedOutput,
    *,
    job_id: UUID | None,
    task: str | None,
    model: str | None,
    prompt: str | None,
) -> MediaItem:
    """The row of an uploaded output, on the caller's transaction (which does nothing remote)."""
    return repo.insert(
        conn,
        _values(
            media_id=uploaded.media_id,
            user_id=uploaded.user_id,
            kind="output",
            key=uploaded.key,
            data=uploaded.data,
            content_type=uploaded.content_type,
            width=uploaded.width,
            height=uploaded.height,
            job_id=job_id,
            task=task,
            model=model,
            prompt=prompt,
            thumbnail=uploaded.thumbnail_key,
            digital_source_type=uploaded.digital_source_type,
            c2pa_manifest=uploaded.c2pa_manifest,
        ),
    )


def discard_uploaded(storage: Storage, uploaded: list[UploadedOutput]) -> None:
    """Delete the objects of outputs whose rows were never committed (a failed or canceled finish)."""
    keys = [key for item in uploaded for key in (item.key, item.thumbnail_key) if key]
    if keys:
        storage.delete(keys)


def store_output(
    conn: Connection,
    storage: Storage,
    *,
    user_id: UUID,
    job_id: UUID | None,
    data: bytes,
    content_type: str,
    width: int,
    height: int,
    task: str | None,
    model: str | None,
    prompt: str | None,
    digital_source_type: str | None = None,
    c2pa_manifest: bool = False,
) -> MediaItem:
    """Store a generated image for a job: the object first, then its row on `conn`.

    `data` is stored byte for byte: the provenance marks (shared/provenance) are applied before, and
    `digital_source_type` / `c2pa_manifest` record what they are.

    If the insert fails the object is deleted and the error re-raised. The caller owns the transaction:
    keep it short, and if its commit fails call `discard(storage, item)` so no object is left behind.
    Workers upload before their transaction instead (`upload_output`, then `record_output`).
    """
    uploaded = upload_output(
        storage,
        user_id=user_id,
        data=data,
        content_type=content_type,
        width=width,
        height=height,
        digital_source_type=digital_source_type,
        c2pa_manifest=c2pa_manifest,
    )
    try:
        return record_output(conn, uploaded, job_id=job_id, task=task, model=model, prompt=prompt)
    except BaseException:
        discard_uploaded(storage, [uploaded])
        raise


def discard(storage: Storage, item: MediaItem) -> None:
    """Delete the objects of an item whose row was never committed."""
    storage.delete([k for k in (item.storage_key, item.thumbnail_key) if k])


def get_owned(
    conn: Connection, user_id: UUID, media_id: UUID, kinds: tuple[MediaKind, ...] = KINDS, *, lock: bool = False
) -> MediaItem:
    """The caller's own, not deleted item of one of `kinds`; `NotFound` for anything else (others' included)."""
    item = repo.get_visible(conn, user_id, media_id, kinds, lock=lock)
    if item is None:
        raise NotFound("No such image.")
    return item


def servable_content_type(conn: Connection, storage_key: str) -> str | None:
    """For a signed link: the media type of the item (or its thumbnail) at this key, `NotFound` once deleted.

    None when no media row owns the key (objects of other domains, e.g. exports).
    """
    row = repo.by_key(conn, storage_key)
    if row is None:
        return None
    if row.deleted_at is not None:
        raise NotFound("No such file.")  # deleted images are hidden at once, even from links handed out before
    return THUMBNAIL_TYPE if storage_key == row.thumbnail_key else row.content_type


def outputs_of_job(conn: Connection, user_id: UUID, job_id: UUID) -> list[MediaItem]:
    """A job's outputs the user still has (trashed ones drop out of the job, as from the history)."""
    return repo.outputs_of_job(conn, user_id, job_id)


DOWNLOAD_NAME_WORDS = 6  # prompt words in a download's file name
DOWNLOAD_NAME_CHARS = 60  # at most this much of the file name comes from the prompt


def download_name(item: MediaItem) -> str:
    """`atelier-<prompt words>-<id>.<ext>`: the first words of the prompt, ASCII, lowercase, joined by hyphens
    (`atelier-<id>.<ext>` without a prompt), the extension the stored format's (webp, jpg, png)."""
    ascii_prompt = unicodedata.normalize("NFKD", item.prompt or "").encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_prompt.lower())[:DOWNLOAD_NAME_WORDS]
    slug = "-".join(words)[:DOWNLOAD_NAME_CHARS].strip("-")
    stem = f"atelier-{slug}-{item.id}" if slug else f"atelier-{item.id}"
    return f"{stem}.{EXTENSIONS[item.content_type]}"


def download_url(storage: Storage, item: MediaItem) -> str:
    """A signed link that downloads the item as an attachment named by `download_name` (both backends)."""
    return storage.signed_url(item.storage_key, download=download_name(item))


def load_bytes(storage: Storage, item: MediaItem) -> bytes:
    return storage.get(item.storage_key)


def history(conn: Connection, user_id: UUID, filters: MediaFilter, cursor: str | None, limit: int) -> Page[MediaItem]:
    """The caller's images, newest first; the cursor is (created_at, id), stable while new images arrive."""
    rows = repo.list_visible(conn, user_id, filters, Cursor.decode(cursor), limit)
    return page_of(rows, limit, lambda item: Cursor(item.created_at, item.id))


def set_public(conn: Connection, user_id: UUID, media_id: UUID, public: bool) -> MediaItem:
    """Publish or withdraw one of the caller's outputs (uploads and masks never)."""
    item = get_owned(conn, user_id, media_id, lock=True)
    if item.kind != "output":
        raise NotPublishable()
    if public and item.taken_down_at is not None:
        raise TakenDown()
    if item.public == public:
        return item
    return repo.set_public(conn, media_id, public)


def trash(conn: Connection, user_id: UUID, media_id: UUID, *, now: datetime, trash_days: int) -> MediaItem:
    """Hide one of the caller's items at once and schedule its purge; a second call is `NotFound`."""
    item = repo.trash(conn, user_id, media_id, now + timedelta(days=trash_days))
    if item is None:
        raise NotFound("No such image.")
    log.info("media trashed", extra={"media_id": str(media_id)})
    return item


def gallery(conn: Connection, cursor: str | None, limit: int) -> Page[GalleryItem]:
    rows = repo.gallery(conn, Cursor.decode(cursor), limit)
    return page_of(rows, limit, lambda item: Cursor(item.published_at, item.id))


def gallery_item(conn: Connection, media_id: UUID) -> GalleryItem:
    """One item as long as the gallery may show it (published, not deleted, owner shown); else `NotFound`."""
    item = repo.gallery_one(conn, media_id)
    if item is None:
        raise NotFound("No such image.")
    return item


def purge_media(
    db: Database, storage: Storage, *, now: datetime, limit: int = 5000, ids: list[UUID] | None = None
) -> int:
    """Remove the objects, then the rows, of trashed items whose purge time has passed; returns rows purged.

    Works in bounded batches of short transactions and never holds one across a storage call. Safe to run
    twice at once (rows are claimed with FOR UPDATE SKIP LOCKED under a lease) and idempotent (deleting a
    missing object is no error; a purged row is gone). `ids` limits the purge to those items.
    """
    purged = 0
    after: datetime | None = None  # each batch starts where the one before stopped (a keyset on purge_after)
    while purged < limit:
        with db.transaction() as conn:
            claimed, after = repo.claim_purgeable_batch(
                conn, now, now + PURGE_LEASE, min(PURGE_BATCH, limit - purged), ids, after=after
            )
        if not claimed:
            break
        storage.delete([key for _id, keys in claimed for key in keys])
        with db.transaction() as conn:
            purged += repo.delete_trashed(conn, [ident for ident, _key in claimed])
        if ids is not None:
            break
    if purged:
        log.info("media purged", extra={"count": purged})
    return purged
