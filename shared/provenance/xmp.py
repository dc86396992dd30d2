"""IPTC DigitalSourceType in XMP, written into the encoded container without touching the pixels.

Re-encoding to add metadata would cost a second encode and, for WebP, a second lossy pass; instead the XMP
packet is inserted as the format's own metadata chunk: a PNG `iTXt` chunk (`XML:com.adobe.xmp`), a WebP
`XMP ` chunk (turning a simple WebP into the extended VP8X layout), a JPEG APP1 segment. Any XMP already
present is replaced, so marking twice leaves one packet.
"""

from __future__ import annotations

import struct
import zlib
from xml.sax.saxutils import escape

IPTC_DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC_DIGITAL_SOURCE_TYPE + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC_DIGITAL_SOURCE_TYPE + "compositeWithTrainedAlgorithmicMedia"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
WEBP_XMP_FLAG = 0x04
WEBP_ALPHA_FLAG = 0x10


class UnsupportedContainer(ValueError):
    """The bytes are not a PNG, WebP or JPEG this module can mark."""


def xmp_packet(digital_source_type: str, *, creator_tool: str) -> bytes:
    """A minimal XMP packet naming the IPTC digital source type and the tool; nothing about the user."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        f' Iptc4xmpExt:DigitalSourceType="{escape(digital_source_type)}"'
        f' xmp:CreatorTool="{escape(creator_tool)}"/>'
        "</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def embed_xmp(data: bytes, content_type: str, packet: bytes) -> bytes:
    """The same image with `packet` as its only XMP."""
    if content_type == "image/png":
        return _png(data, packet)
    if content_type == "image/webp":
        return _webp(data, packet)
    if content_type == "image/jpeg":
        return _jpeg(data, packet)
    raise UnsupportedContainer(content_type)


# -- PNG ---------------------------------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(PNG_SIGNATURE):
        raise UnsupportedContainer("not a PNG")
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
        if kind == b"IEND":
            break
    return chunks


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png(data: bytes, packet: bytes) -> bytes:
    out = [PNG_SIGNATURE]
    written = False
    for kind, body in _png_chunks(data):
        if kind == b"iTXt" and body.startswith(PNG_XMP_KEYWORD + b"\x00"):
            continue  # an older packet: replaced
        if kind == b"IDAT" and not written:  # XMP goes before the image data, where readers look first
            out.append(_png_chunk(b"iTXt", PNG_XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + packet))
            written = True
        out.append(_png_chunk(kind, body))
    return b"".join(out)


# -- WebP --------------------------------------------------------------------------------------------------------


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise UnsupportedContainer("not a WebP")
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    return chunks


def _webp_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def _webp_size(kind: bytes, body: bytes) -> tuple[int, int, bool]:
    """(width, height, has_alpha) from a simple WebP's VP8 or VP8L bitstream header."""
    if kind == b"VP8 ":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF, False
    if kind == b"VP8L":
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    raise UnsupportedContainer("WebP without VP8/VP8L image data")


def _webp(data: bytes, packet: bytes) -> bytes:
    chunks = [(kind, body) for kind, body in _webp_chunks(data) if kind != b"XMP "]
    if chunks and chunks[0][0] == b"VP8X":
        header = bytearray(chunks[0][1])
        header[0] |= WEBP_XMP_FLAG
        chunks[0] = (b"VP8X", bytes(header))
    else:
        image = next(((kind, body) for kind, body in chunks if kind in (b"VP8 ", b"VP8L")), None)
        if image is None:
            raise UnsupportedContainer("WebP without image data")
        width, height, alpha = _webp_size(*image)
        flags = WEBP_XMP_FLAG | (WEBP_ALPHA_FLAG if alpha else 0)
        vp8x = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        chunks.insert(0, (b"VP8X", vp8x))
    chunks.append((b"XMP ", packet))  # XMP is the last chunk in the extended layout
    body = b"WEBP" + b"".join(_webp_chunk(kind, chunk) for kind, chunk in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# -- JPEG --------------------------------------------------------------------------------------------------------


def _jpeg(data: bytes, packet: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise UnsupportedContainer("not a JPEG")
    segment = JPEG_XMP_HEADER + packet
    if len(segment) + 2 > 0xFFFF:
        raise UnsupportedContainer("XMP packet too large for one APP1 segment")
    xmp = b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment
    head: list[bytes] = []
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xDA, 0xD9):
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if not (data[pos + 1] == 0xE1 and data[pos + 4 : pos + 4 + len(JPEG_XMP_HEADER)] == JPEG_XMP_HEADER):
            head.append(data[pos : pos + 2 + length])  # every segment but an older XMP packet
        pos += 2 + length
    at = 1 if head and head[0][1] == 0xE0 else 0  # after the JFIF APP0 header, which must come first
    head.insert(at, xmp)
    return b"\xff\xd8" + b"".join(head) + data[pos:]
