"""Uploads, the caller's image history, downloads, deletion, publishing, the public gallery and local file links."""

import logging
import mimetypes
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import Field, StrictBool

from config.models import Task
from functions.api.deps import AppSettings, ContentModerator, CurrentCaller, Db, OnboardedCaller, PageCursor, Storage
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from functions.api.schemas import RequestModel, ResponseModel
from functions.api.screening import judge_uploads
from functions.api.suspension import NOT_SUSPENDED
from functions.api.urls import absolute
from shared.access.onboarding import require_onboarded
from shared.kit.errors import AtelierError, NotFound, OnboardingRequired
from shared.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from shared.media import service
from shared.media.images import (
    EXTENSIONS,
    CleanImage,
    DecodingBusy,
    ImageBodyTooLarge,
    ImageTooLarge,
    InvalidImage,
    UnsupportedImageType,
    validate_image,
)
from shared.media.models import GalleryItem, MediaFilter, MediaItem
from shared.media.service import NotPublishable, TakenDown
from shared.media.storage import LocalStorage, StorageUnavailable
from shared.media.storage import Storage as ObjectStorage
from shared.media.thumbnails import THUMBNAIL_TYPE
from shared.moderation import ContentBlocked, ModerationUnavailable, Moderator
from shared.trust.suspension import AccountSuspended, require_active

log = logging.getLogger("atelier.api.media")

# What a model id looks like (config/models.py); anything else cannot match and is refused before any SQL.
MODEL_ID = r"^[A-Za-z0-9._:/-]+$"


router = APIRouter(prefix="/v1", tags=["media"])


class UploadOut(ResponseModel):
    id: UUID
    width: int
    height: int
    content_type: str
    bytes: int


class MediaOut(ResponseModel):
    id: UUID
    kind: str
    job_id: UUID | None
    prompt: str | None
    model: str | None
    task: str | None
    width: int
    height: int
    content_type: str
    bytes: int
    public: bool
    published_at: datetime | None
    created_at: datetime
    url: str | None  # None only when the stored object is missing
    thumbnail_url: str | None  # a small WebP; the image's own url for rows stored before thumbnails
    seed: int | None  # outputs: the seed the job rendered with (reuse it to render again)
    c2pa_manifest: bool = Field(False, description="a signed C2PA manifest is embedded in the image's bytes")
    digital_source_type: str | None = Field(None, description="the IPTC digital source type in its XMP and manifest")
    taken_down: bool = Field(False, description="an operator removed it from the gallery; see the notice")
    download_url: str | None = Field(
        None,
        description="GET /v1/media/{id} only (null in lists): a signed link that downloads the image as an "
        "attachment named `atelier-<prompt words>-<id>.<ext>`, across origins too",
    )


class MediaPage(ResponseModel):
    items: list[MediaOut]
    next_cursor: str | None


class PublishIn(RequestModel):
    public: StrictBool


class GalleryOut(ResponseModel):
    id: UUID
    url: str
    thumbnail_url: str
    width: int
    height: int
    prompt: str | None
    model: str | None
    published_at: datetime


class GalleryPage(ResponseModel):
    items: list[GalleryOut]
    next_cursor: str | None


def _signed(storage: ObjectStorage, items: list[MediaItem]) -> dict[str, str]:
    """Signed links of the items' images and thumbnails, in one call."""
    keys = [item.storage_key for item in items] + [item.thumbnail_key for item in items if item.thumbnail_key]
    return storage.signed_urls(keys)


def _media_out(request: Request, item: MediaItem, urls: dict[str, str], download: str | None = None) -> MediaOut:
    url = urls.get(item.storage_key)
    thumb = urls.get(item.thumbnail_key) if item.thumbnail_key else url
    return MediaOut(
        id=item.id,
        kind=item.kind,
        job_id=item.job_id,
        prompt=item.prompt,
        model=item.model,
        task=item.task,
        width=item.width,
        height=item.height,
        content_type=item.content_type,
        bytes=item.bytes,
        public=item.public,
        published_at=item.published_at,
        created_at=item.created_at,
        url=absolute(request, url) if url else None,
        thumbnail_url=absolute(request, thumb) if thumb else None,
        seed=item.seed,
        c2pa_manifest=item.c2pa_manifest,
        digital_source_type=item.digital_source_type,
        taken_down=item.taken_down_at is not None,
        download_url=absolute(request, download) if download else None,
    )


def _gallery_out(request: Request, item: GalleryItem) -> GalleryOut:
    url = f"/v1/gallery/{item.id}/image"
    return GalleryOut(
        id=item.id,
        url=absolute(request, url),
        thumbnail_url=absolute(request, f"/v1/gallery/{item.id}/thumbnail" if item.thumbnail_key else url),
        width=item.width,
        height=item.height,
        prompt=item.prompt,
        model=item.model,
        published_at=item.published_at,
    )


def _read_limited(file: UploadFile, limit: int) -> bytes:
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise ImageBodyTooLarge(f"The image is larger than {limit} bytes.")
    return data


@router.post(
    "/uploads",
    status_code=201,
    summary="Upload one image (JPEG, PNG or WebP), stripped of metadata",
    dependencies=[rate_limited("uploads"), NOT_SUSPENDED],
    responses=errors(
        ImageBodyTooLarge,
        UnsupportedImageType,
        InvalidImage,
        ImageTooLarge,
        DecodingBusy,
        StorageUnavailable,
        ContentBlocked,
        ModerationUnavailable,
    ),
)
def upload(
    *,
    caller: OnboardedCaller,
    db: Db,
    storage: Storage,
    settings: AppSettings,
    moderator: ContentModerator,
    file: Annotated[UploadFile, File(description="The image")],
    purpose: Annotated[Literal["image", "mask"], Form(description="'mask' for an inpainting mask")] = "image",
) -> UploadOut:
    data = _read_limited(file, settings.max_upload_bytes)
    clean = validate_image(
        data,
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_upload_pixels,
        max_side=settings.max_image_side,
        output_format="PNG" if purpose == "mask" else None,  # masks stay lossless
    )
    kind: Literal["upload", "mask"] = "mask" if purpose == "mask" else "upload"
    if kind == "upload":  # judged before anything is stored; a blocked upload leaves nothing behind
        _judge_upload(db, moderator, caller.account.id, clean)
    item = service.store_upload(db, storage, user_id=caller.account.id, image=clean, kind=kind)
    log.info("upload stored", extra={"media_id": str(item.id), "kind": kind})
    return UploadOut(id=item.id, width=item.width, height=item.height, content_type=item.content_type, bytes=item.bytes)


def _judge_upload(db: Db, moderator: Moderator, user_id: UUID, image: CleanImage) -> None:
    """Classify (outside any transaction: it may be a remote call), record the decision, refuse a blocked image."""
    refusal = "This image is not allowed by the content policy; it was not stored."
    judge_uploads(db, moderator, user_id, [image], refusal=refusal)


@router.get(
    "/media",
    summary="The caller's images, newest first; filter by kind, task, model, time, or prompt words (`q`)",
    dependencies=[rate_limited("account")],
)
def list_media(
    *,
    request: Request,
    caller: CurrentCaller,
    db: Db,
    storage: Storage,
    cursor: PageCursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    kind: Literal["upload", "output", "mask"] | None = None,
    task: Task | None = None,
    model: Annotated[str | None, Query(max_length=128, pattern=MODEL_ID)] = None,
    before: datetime | None = None,
    after: datetime | None = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="words of the prompt, each matched as the start of a word, all of them (case-insensitive)",
        ),
    ] = None,
) -> MediaPage:
    filters = MediaFilter(kind=kind, task=task, model=model, before=before, after=after, q=q)
    with db.transaction() as conn:
        page = service.history(conn, caller.account.id, filters, cursor, limit)
    urls = _signed(storage, page.items)
    return MediaPage(
        items=[_media_out(request, item, urls) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/media/{media_id}", summary="One of the caller's images", dependencies=[rate_limited("account")])
def get_media(request: Request, media_id: UUID, caller: CurrentCaller, db: Db, storage: Storage) -> MediaOut:
    with db.transaction() as conn:
        item = service.get_owned(conn, caller.account.id, media_id)
    return _media_out(request, item, _signed(storage, [item]), service.download_url(storage, item))


@router.get(
    "/media/{media_id}/download",
    summary="Download one of the caller's images as an attachment",
    dependencies=[rate_limited("account")],
)
def download_media(media_id: UUID, caller: CurrentCaller, db: Db, storage: Storage) -> StreamingResponse:
    with db.transaction() as conn:
        item = service.get_owned(conn, caller.account.id, media_id)
    chunks = storage.open(item.storage_key)
    filename = f"atelier-{item.id}.{EXTENSIONS[item.content_type]}"
    return StreamingResponse(
        chunks,
        media_type=item.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(item.bytes),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.patch(
    "/media/{media_id}",
    summary="Publish an output to the gallery or withdraw it",
    dependencies=[rate_limited("account")],
    responses=errors(
        NotPublishable, OnboardingRequired, TakenDown, AccountSuspended, ContentBlocked, ModerationUnavailable
    ),
)
def publish_media(
    *,
    request: Request,
    media_id: UUID,
    body: PublishIn,
    caller: CurrentCaller,
    db: Db,
    storage: Storage,
    moderator: ContentModerator,
) -> MediaOut:
    """Publishing needs onboarding (403 `onboarding_required`), an account not suspended (403 `account_suspended`)
    and a re-check of the image with the stricter public threshold; withdrawing from the gallery is always allowed."""
    if body.public:
        with db.transaction() as conn:
            item = service.get_owned(conn, caller.account.id, media_id)  # someone else's image: 404 before anything
            require_onboarded(conn, caller.account.id)
            require_active(conn, caller.account.id)  # a suspended account may withdraw, never publish
        if not item.public and item.kind == "output" and item.taken_down_at is None:
            verdict = moderator.judge_image(storage.get(item.storage_key), item.content_type, "publish")
            from shared.trust import decisions  # lazy: LOADED_BY_THEIR_CALLS (routes/__init__.py)

            with db.transaction() as conn:
                decisions.record(conn, user_id=caller.account.id, stage="publish", verdict=verdict, media_id=item.id)
            if not verdict.allowed:
                raise ContentBlocked("This image is not allowed in the public gallery by the content policy.")
    with db.transaction() as conn:
        item = service.set_public(conn, caller.account.id, media_id, body.public)
    return _media_out(request, item, _signed(storage, [item]))


@router.delete(
    "/media/{media_id}",
    status_code=204,
    summary="Delete one of the caller's images",
    dependencies=[rate_limited("account")],
)
def delete_media(media_id: UUID, caller: CurrentCaller, db: Db, storage: Storage, settings: AppSettings) -> Response:
    now = datetime.now(UTC)
    with db.transaction() as conn:
        service.trash(conn, caller.account.id, media_id, now=now, trash_days=settings.trash_days)
    if settings.trash_days == 0:
        _purge_now(db, storage, media_id, now)
    return Response(status_code=204)


def _purge_now(db: Db, storage: ObjectStorage, media_id: UUID, now: datetime) -> None:
    """With no trash period the object goes in this request; if storage fails, the scheduled purge retries."""
    try:
        service.purge_media(db, storage, now=now, ids=[media_id])
    except AtelierError:
        log.warning("immediate purge failed; the scheduled purge will retry", extra={"media_id": str(media_id)})


@router.get("/gallery", summary="Published outputs, anonymous", dependencies=[rate_limited("public")])
def gallery(
    request: Request,
    db: Db,
    cursor: PageCursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> GalleryPage:
    with db.transaction() as conn:
        page = service.gallery(conn, cursor, limit)
    return GalleryPage(
        items=[_gallery_out(request, item) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/gallery/{media_id}",
    summary="One published output, anonymous: its public fields only",
    dependencies=[rate_limited("public")],
    responses=errors(NotFound),
)
def gallery_one(media_id: UUID, request: Request, db: Db) -> GalleryOut:
    """What an image's page shows of a public image opened by a link (no owner, no storage path); 404 once it is
    withdrawn, deleted, taken down or its owner opted out."""
    with db.transaction() as conn:
        item = service.gallery_item(conn, media_id)
    return _gallery_out(request, item)


@router.get(
    "/gallery/{media_id}/image",
    summary="The image of one gallery item, anonymous",
    dependencies=[rate_limited("public")],
)
def gallery_image(media_id: UUID, db: Db, storage: Storage) -> StreamingResponse:
    """Served through the API, not by a storage link: a storage path names its owner, and a withdrawn,
    deleted or opted-out item stops showing on the very next request instead of when a link expires."""
    with db.transaction() as conn:
        item = service.gallery_item(conn, media_id)
    return StreamingResponse(
        storage.open(item.storage_key),
        media_type=item.content_type,
        headers={"Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/gallery/{media_id}/thumbnail",
    summary="The thumbnail of one gallery item, anonymous",
    dependencies=[rate_limited("public")],
)
def gallery_thumbnail(media_id: UUID, db: Db, storage: Storage) -> StreamingResponse:
    """Like the image: through the API, shown only while the item may be; the image itself when it has none."""
    with db.transaction() as conn:
        item = service.gallery_item(conn, media_id)
    key, content_type = (
        (item.thumbnail_key, THUMBNAIL_TYPE) if item.thumbnail_key else (item.storage_key, item.content_type)
    )
    return StreamingResponse(
        storage.open(key),
        media_type=content_type,
        headers={"Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/files/{token}",
    summary="A local signed file link (local storage backend only)",
    include_in_schema=False,
    dependencies=[rate_limited("public")],
)
def signed_file(token: str, db: Db, storage: Storage) -> StreamingResponse:
    if not isinstance(storage, LocalStorage):
        raise NotFound()
    key, download = storage.verify(token)
    with db.transaction() as conn:
        content_type = service.servable_content_type(conn, key)
    content_type = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
    headers = {"Cache-Control": "private, max-age=60", "X-Content-Type-Options": "nosniff"}
    if download is not None:  # a download link: saved under its name, as Supabase Storage's `?download=` does
        headers["Content-Disposition"] = f'attachment; filename="{download}"'
    return StreamingResponse(storage.open(key), media_type=content_type, headers=headers)
