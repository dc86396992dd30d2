"""Test images built in code: with camera metadata, in every accepted format, and the malformed kinds."""

from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import Image, ImageCms, PngImagePlugin

CAMERA_MAKER = "Acme PocketCam 3000"
GPS = {1: "N", 2: (51.0, 28.0, 38.0), 3: "W", 4: (0.0, 0.0, 5.0)}  # Greenwich
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description>secret-location</rdf:Description></x:xmpmeta>'


def exif_bytes(orientation: int = 6) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = CAMERA_MAKER  # Make
    exif[0x0112] = orientation  # 6: the camera was turned; viewers rotate 90° clockwise
    exif[0x8825] = GPS  # GPSInfo
    return exif.tobytes()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def photo(fmt: str = "JPEG", size: tuple[int, int] = (64, 32)) -> bytes:
    """A small image carrying EXIF (maker, orientation, GPS), an ICC profile, XMP and a comment or text."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1] // 4))  # a mark that shows the orientation
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", exif=exif_bytes(), icc_profile=srgb_icc(), comment=b"shot at home", xmp=XMP)
    elif fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "shot at home")
        info.add_text("XML:com.adobe.xmp", XMP.decode())
        image.save(out, "PNG", exif=exif_bytes(), icc_profile=srgb_icc(), pnginfo=info)
    else:
        image.save(out, "WEBP", exif=exif_bytes(), icc_profile=srgb_icc(), xmp=XMP)
    return out.getvalue()


def plain(fmt: str = "PNG", size: tuple[int, int] = (16, 16), color: tuple[int, int, int] = (10, 120, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def noise_png(width: int, height: int) -> bytes:
    """An incompressible PNG of about width*height*3 bytes."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG", compress_level=0)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A few hundred bytes whose header promises width x height pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * 4, 9)  # a few rows; the header does the damage
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    return out.getvalue()
