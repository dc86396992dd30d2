"""Media rows as the domain sees them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from config.values import value

MediaKind = Literal["upload", "output", "mask"]
KINDS: tuple[MediaKind, ...] = ("upload", "output", "mask")


@value
class MediaItem:
    """An image as its row holds it: an upload, an output or a mask."""

    id: UUID
    user_id: UUID
    kind: MediaKind
    job_id: UUID | None
    storage_key: str
    content_type: str
    width: int
    height: int
    bytes: int
    sha256: str
    task: str | None
    model: str | None
    prompt: str | None
    public: bool
    published_at: datetime | None
    created_at: datetime
    deleted_at: datetime | None
    purge_after: datetime | None
    thumbnail_key: str | None = None  # a small WebP; None for masks and rows older than thumbnails
    seed: int | None = None  # outputs: the seed the job rendered with
    digital_source_type: str | None = None  # IPTC, written in the output's XMP and C2PA manifest
    c2pa_manifest: bool = False  # a signed C2PA manifest is embedded in the stored bytes
    taken_down_at: datetime | None = None  # an operator removed it from the gallery
    takedown_reason: str | None = None


@value
class GalleryItem:
    """What the anonymous gallery may show: never the owner, never an upload."""

    id: UUID
    storage_key: str
    content_type: str
    width: int
    height: int
    prompt: str | None
    model: str | None
    published_at: datetime
    thumbnail_key: str | None = None


@value
class MediaFilter:
    """The History page's filters; None leaves a field unfiltered."""

    kind: MediaKind | None = None
    task: str | None = None
    model: str | None = None
    before: datetime | None = None
    after: datetime | None = None
    q: str | None = None  # words of the prompt, each matched as a prefix ("light tow" finds "lighthouse tower")
