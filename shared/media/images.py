"""Image validation and cleaning with Pillow: the only way bytes from a client become a stored image.

Accepts JPEG, PNG and WebP (sniffed from the bytes, never trusted from a header), refuses oversized bodies,
images over the pixel limit, decompression bombs and corrupt files, then applies the EXIF orientation and
re-encodes the pixels alone: EXIF (GPS included), XMP, ICC profiles, comments and text chunks are dropped.
Reused by anything that accepts images (uploads, support attachments).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from shared.errors import PayloadTooLarge, Unprocessable, UnsupportedMediaType

ImageFormat = Literal["JPEG", "PNG", "WEBP"]

CONTENT_TYPES: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS: dict[str, str] = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000


class ImageTooLarge(Unprocessable):
    """The image has more pixels than this service accepts."""

    code = "image_too_large"


class InvalidImage(Unprocessable):
    """The file is not a readable image."""

    code = "invalid_image"


class UnsupportedImageType(UnsupportedMediaType):
    """Only JPEG, PNG and WebP images are accepted."""


class ImageBodyTooLarge(PayloadTooLarge):
    """The image file is larger than this service accepts."""


@dataclass(frozen=True)
class CleanImage:
    """Re-encoded pixels with no metadata, ready to store."""

    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def sniff_format(data: bytes) -> ImageFormat | None:
    """The format the leading bytes announce, for the three accepted formats only."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def validate_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    output_format: ImageFormat | None = None,
) -> CleanImage:
    """Check and clean one image; raises a 413/415/422 error with a stable code and keeps nothing.

    `output_format` forces the stored format (masks are kept lossless as PNG); by default the input format.
    """
    if len(data) > max_bytes:
        raise ImageBodyTooLarge(f"The image is larger than {max_bytes} bytes.")
    source_format = sniff_format(data)
    if source_format is None:
        raise UnsupportedImageType()
    with warnings.catch_warnings():
        # Pillow warns (above its own limit) and raises (above twice that) for decompression bombs.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[source_format]) as opened:
                width, height = opened.size
                if width <= 0 or height <= 0:
                    raise InvalidImage()
                if width * height > max_pixels:
                    raise ImageTooLarge(f"The image has more than {max_pixels} pixels.")
                opened.seek(0)  # animated PNG/WebP: the first frame only
                opened.load()
                image = _clean(opened)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge("The image expands to too many pixels (decompression bomb).") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidImage() from exc
    target = output_format or source_format
    encoded = _encode(image, target)
    return CleanImage(encoded, CONTENT_TYPES[target], image.width, image.height)


def _clean(opened: Image.Image) -> Image.Image:
    """Upright pixels in a fresh image that carries no metadata at all."""
    upright = ImageOps.exif_transpose(opened) or opened
    fresh = upright.copy()
    transparency = fresh.info.get("transparency")  # pixel data (which colour is clear), not metadata
    fresh.info = {} if transparency is None else {"transparency": transparency}
    return fresh


def _encode(image: Image.Image, target: ImageFormat) -> bytes:
    out = io.BytesIO()
    if target == "JPEG":
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
            if image.mode == "RGBA":  # JPEG has no alpha: flatten onto white
                background = Image.new("RGB", image.size, (255, 255, 255))
                background.paste(image, mask=image.getchannel("A"))
                image = background
        image.save(out, "JPEG", quality=95, optimize=True)
    elif target == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        image.save(out, "WEBP", quality=95, method=4)
    else:
        if image.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        image.save(out, "PNG")
    return out.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
