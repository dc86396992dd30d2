"""Image validation and cleaning with Pillow: the only way bytes from a client become a stored image.

Accepts JPEG, PNG and WebP (sniffed from the bytes, never trusted from a header), refuses oversized bodies,
images over the pixel limit, decompression bombs and corrupt files, then applies the EXIF orientation and
re-encodes the pixels alone: EXIF (GPS included), XMP, ICC profiles, comments and text chunks are dropped.
Reused by anything that accepts images (uploads, support attachments).

The work per image is bounded, because a small file can promise a huge image: the pixel cap fits what
generation needs (inputs are resized to the model's size anyway) and stored images are at most `max_side`
on their long side, JPEGs decoded at that scale directly (`draft`), other formats reduced right after
decoding and their full-size pixels dropped at once. Files that cannot hold the pixels they promise (a JPEG
scan far too short for its frame, a PNG whose chunks do not check out) are refused, and every decode first
reserves what it will hold at its peak, estimated from the header, from the process's decode budget
(shared/media/decoding.py, `ATELIER_DECODE_MEMORY_MB`): it waits its turn a bounded time, then answers 503
`image_decoding_busy`, so peak memory stays bounded whatever mix of uploads arrives, and large decodes give
their memory back to the system when they finish.
"""

from __future__ import annotations

import io
import math
import warnings
from contextlib import ExitStack
from typing import TYPE_CHECKING, Literal

from config.values import value
from shared.kit.errors import PayloadTooLarge, Unprocessable, UnsupportedMediaType
from shared.media.decoding import (
    DecodeBudget,
    DecodingBusy,
    ImageTooLarge,
    pipeline_bytes,
    process_budget,
    webp_pipeline_bytes,
    webp_size,
)

if TYPE_CHECKING:  # Pillow is imported by the calls that decode: the API starts without it (cold start)
    from PIL import Image

__all__ = [  # DecodingBusy and ImageTooLarge come from decoding.py: callers name them here with the others
    "CONTENT_TYPES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "EXTENSIONS",
    "CleanImage",
    "DecodingBusy",
    "ImageBodyTooLarge",
    "ImageFormat",
    "ImageTooLarge",
    "InvalidImage",
    "UnsupportedImageType",
    "sniff_format",
    "validate_image",
]

ImageFormat = Literal["JPEG", "PNG", "WEBP"]

CONTENT_TYPES: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS: dict[str, str] = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_SIDE = 2048  # the largest input any model takes; the upscaler's 4096 px target stays reachable
# A real JPEG spends at least ~2 bits on each 8x8 luma block even for a flat colour (DC difference + end of
# block); a scan with less than half a bit per block cannot hold the frame its header declares.
MIN_JPEG_BITS_PER_BLOCK = 0.5


class InvalidImage(Unprocessable):
    """The file is not a readable image."""

    code = "invalid_image"


class UnsupportedImageType(UnsupportedMediaType):
    """Only JPEG, PNG and WebP images are accepted."""


class ImageBodyTooLarge(PayloadTooLarge):
    """The image file is larger than this service accepts."""


@value
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
    max_side: int = DEFAULT_MAX_SIDE,
    output_format: ImageFormat | None = None,
    budget: DecodeBudget | None = None,
) -> CleanImage:
    """Check and clean one image; raises a 413/415/422 error with a stable code (503 `image_decoding_busy` when
    the decode budget has no room in time) and keeps nothing.

    The stored image is at most `max_side` pixels on its long side (aspect kept). `output_format` forces the
    stored format (masks are kept lossless as PNG); by default the input format. `budget` defaults to the
    process's (shared/media/decoding.py).
    """
    if len(data) > max_bytes:
        raise ImageBodyTooLarge(f"The image is larger than {max_bytes} bytes.")
    source_format = sniff_format(data)
    if source_format is None:
        raise UnsupportedImageType()
    budget = budget or process_budget()
    with ExitStack() as reserved:  # held from before the decode until the encoded bytes exist
        if source_format == "WEBP":  # libwebp allocates its canvases as the file is opened: reserve before that
            declared = webp_size(data)
            if declared is None:
                raise InvalidImage()
            _check_pixels(*declared, max_pixels)
            reserved.enter_context(budget.reserve(webp_pipeline_bytes(declared, output_side=max_side)))
        image = _decode(data, source_format, max_pixels=max_pixels, max_side=max_side, budget=budget, held=reserved)
        encoded = _encode(image, output_format or source_format)
        width, height = image.size
        del image
    return CleanImage(encoded, CONTENT_TYPES[output_format or source_format], width, height)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidImage()
    if width * height > max_pixels:
        raise ImageTooLarge(f"The image has more than {max_pixels} pixels.")


def _decode(
    data: bytes, source_format: ImageFormat, *, max_pixels: int, max_side: int, budget: DecodeBudget, held: ExitStack
) -> Image.Image:
    """The cleaned image at its stored size; the opened file (and a WebP decoder's canvases) dies on return."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415  (lazy: the API starts without Pillow)

    with warnings.catch_warnings():
        # Pillow warns (above its own limit) and raises (above twice that) for decompression bombs.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[source_format]) as opened:
                width, height = opened.size
                _check_pixels(width, height, max_pixels)
                if source_format == "PNG":
                    _verify_png(data)
                if source_format == "JPEG":
                    _check_jpeg_scan(data, width, height)
                    opened.draft(None, _fit(width, height, max_side))  # decode at 1/2, 1/4 or 1/8 scale
                if source_format != "WEBP":  # (a WebP reserved before it was opened)
                    copies = 0 if opened.mode in _REDUCIBLE | {"I"} else 1  # palette, 1-bit, 16-bit: converted
                    cost = pipeline_bytes(
                        opened, full_size=(width, height), output_side=max_side, full_size_copies=copies
                    )
                    held.enter_context(budget.reserve(cost))
                opened.seek(0)  # animated PNG/WebP: the first frame only
                opened.load()
                return _clean(opened, max_side)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge("The image expands to too many pixels (decompression bomb).") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidImage() from exc


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _verify_png(data: bytes) -> None:
    """Every chunk's CRC through IEND: Pillow's decoder stops at the pixels and would miss a cut-off file."""
    from PIL import Image  # noqa: PLC0415  (lazy: the API starts without Pillow)

    with Image.open(io.BytesIO(data), formats=["PNG"]) as checked:
        checked.verify()
    if b"IEND" not in data[-32:]:
        raise InvalidImage("The PNG file is truncated.")


def _check_jpeg_scan(data: bytes, width: int, height: int) -> None:
    """A JPEG whose data is far too short for its declared frame is a forgery (libjpeg would pad it out)."""
    blocks = math.ceil(width / 8) * math.ceil(height / 8)
    if len(data) * 8 < blocks * MIN_JPEG_BITS_PER_BLOCK or b"\xff\xd9" not in data:
        raise InvalidImage("The JPEG file is truncated or does not hold the image its header declares.")


_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "YCbCr"})
_SIXTEEN_BIT = frozenset({"I", "I;16", "I;16B", "I;16L"})  # how Pillow opens a 16-bit greyscale PNG


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit greyscale PNG as 8-bit grey: a plain convert clips every value above 255 to white."""
    if image.mode not in _SIXTEEN_BIT:
        return image
    return image.convert("I").point(lambda value: value * (1 / 257)).convert("L")


def _clean(opened: Image.Image, max_side: int) -> Image.Image:
    """Upright pixels, at most `max_side` on the long side, in a fresh image that carries no metadata at all.

    A reduction happens first, on the full-size pixels, and the opened image's pixels are released right after
    it (the caller's `with` would keep them through the rest): at most one full-size copy lives besides them.
    """
    from PIL import Image, ImageOps  # noqa: PLC0415  (lazy: the API starts without Pillow)

    image: Image.Image = opened
    factor = max(opened.size) // max_side
    if factor >= 2:  # integer box reduction: cheap, and the full-size pixels can be freed at once
        if image.mode in _SIXTEEN_BIT:  # 16-bit grey is reduced as 32-bit integers, then made 8-bit
            image = image if image.mode == "I" else image.convert("I")
        elif image.mode not in _REDUCIBLE:  # palette and 1-bit images: to the nearest mode it takes
            image = image.convert("RGBA" if _has_alpha(image) else "L" if image.mode == "1" else "RGB")
        reduced = image.reduce(factor)
        del image
        opened.close()  # the full-size pixels go now, not when the caller's `with` ends
        image = reduced
    image = _eight_bit(image)
    upright = ImageOps.exif_transpose(image)  # always a new image (a copy when there is nothing to turn)
    if max(upright.size) > max_side:
        upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    transparency = upright.info.get("transparency")  # pixel data (which colour is clear), not metadata
    upright.info = {} if transparency is None else {"transparency": transparency}
    return upright


def _encode(image: Image.Image, target: ImageFormat) -> bytes:
    from PIL import Image  # noqa: PLC0415  (lazy: the API starts without Pillow)

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
        if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        image.save(out, "PNG")
    return out.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
