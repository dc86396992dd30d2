"""An item's image: re-encoded from its pixels alone, then marked again as Atelier's own generated image.

Decoding and re-encoding drops everything the stored file carried besides pixels (its XMP, its C2PA manifest
with the model revision and any ingredient, any other chunk); the fresh mark says only that Atelier made it with
that model (shared/provenance/marks.py), never who asked or what they asked for.
"""

from __future__ import annotations

import io

from PIL import Image

from shared.dataset.manifest import ITEM_CONTENT_TYPE as CONTENT_TYPE
from shared.provenance.marks import Marker


def pixels_only(data: bytes) -> bytes:
    """A PNG of the image's pixels and nothing else."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        image = opened.convert("RGBA" if "A" in opened.getbands() else "RGB")
    fresh = Image.new(image.mode, image.size)
    fresh.paste(image)
    out = io.BytesIO()
    fresh.save(out, "PNG")
    return out.getvalue()


def anonymised(data: bytes, marker: Marker, *, task: str | None, model: str | None) -> bytes:
    clean = pixels_only(data)
    return marker.mark(clean, CONTENT_TYPE, task=task or "text_to_image", model_id=model or "unknown").data
