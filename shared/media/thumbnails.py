"""Thumbnails: a small WebP of each stored image for the history and the gallery.

Made once, when the image is stored (never per request), from bytes Atelier already validated or rendered.
The long side is at most THUMBNAIL_SIDE pixels (never enlarged); alpha is kept, metadata never copied.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING
from uuid import UUID

from shared.media.decoding import reserving
from shared.media.storage import thumbnails_prefix

if TYPE_CHECKING:  # Pillow is imported by the calls that decode: the API starts without it (cold start)
    pass

THUMBNAIL_SIDE = 384
THUMBNAIL_TYPE = "image/webp"
_QUALITY = 80


def thumbnail_key(user_id: UUID, media_id: UUID) -> str:
    return f"{thumbnails_prefix(user_id)}{media_id}.webp"


def make_thumbnail(data: bytes) -> bytes:
    """WebP bytes of the image scaled to fit THUMBNAIL_SIDE (first frame of an animation), decoded within the
    process's decode budget (shared/media/decoding.py)."""
    from PIL import Image  # noqa: PLC0415  (lazy: the API starts without Pillow)

    with reserving(data, output_side=THUMBNAIL_SIDE):
        with Image.open(io.BytesIO(data)) as opened:
            opened.seek(0)
            image = opened.convert("RGBA" if "A" in opened.getbands() or "transparency" in opened.info else "RGB")
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "WEBP", quality=_QUALITY, method=4)
        del image
    return out.getvalue()
