"""Marking an output as AI-generated: IPTC DigitalSourceType in XMP plus a signed C2PA manifest.

`Marker.mark` is applied to the encoded bytes of every output, once, before anything is stored (the worker
calls it from one place). The manifest says what happened (`c2pa.created` for text to image, `c2pa.edited`
with the input as a `parentOf` ingredient for edits, inpaints and upscales), with which digital source type,
by which software agent (Atelier, the model id and its pinned revision), and nothing about the person: no
user id, email or prompt. C2PA's own ingredient thumbnails are off, so the user's input image is never copied
into the output.

Atelier's thumbnail of an output is a derived rendition and is marked by the same function (`rendition_of`):
the same digital source type in XMP, and a manifest whose `c2pa.resized` action names the full, already marked
output as its `parentOf` ingredient, so a reader of the thumbnail alone finds the output's manifest too.
"""

from __future__ import annotations

import io
import threading
from importlib import metadata

import c2pa

from config.models import ModelUnavailable, get_model
from config.settings import Settings
from config.values import value
from shared.media.images import CONTENT_TYPES, sniff_format
from shared.provenance.signing import Credential, credential_for
from shared.provenance.xmp import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
    embed_xmp,
    xmp_packet,
)

SOFTWARE = "Atelier"
EDITING_TASKS = frozenset({"edit", "inpaint", "upscale"})
# Tasks whose output is made from an input image: the manifest names it as the ingredient the output was edited
# from. A variation's input is itself a generated output, so its source type stays wholly generated.
FROM_INPUT_TASKS = EDITING_TASKS | {"vary"}
INGREDIENT_LABEL = "input"
RENDITION_LABEL = "rendition-of"


def _version() -> str:
    try:
        return metadata.version("atelier")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def digital_source_type(task: str) -> str:
    """IPTC: a user's image changed by a model is a composite; anything else is wholly generated."""
    return COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA if task in EDITING_TASKS else TRAINED_ALGORITHMIC_MEDIA


def _content_type(data: bytes) -> str:
    found = sniff_format(data)
    if found is None:
        raise ValueError("the image a rendition is made from is not a PNG, WebP or JPEG")
    return CONTENT_TYPES[found]


@value
class Marked:
    data: bytes
    digital_source_type: str
    c2pa_manifest: bool


def _model_revision(model_id: str) -> str:
    try:
        return get_model(model_id).revision
    except ModelUnavailable:
        return "unknown"


def manifest_for(
    *, task: str, model_id: str, content_type: str, has_input: bool, rendition: bool = False
) -> dict[str, object]:
    """The manifest definition; its every field is listed here so a reviewer sees nothing personal goes in.

    `rendition`: a smaller copy of a marked output (its thumbnail), resized from that output (the ingredient)."""
    source_type = digital_source_type(task)
    agent = {"name": f"{SOFTWARE} {model_id}", "version": _model_revision(model_id)}
    actions: list[dict[str, object]] = []
    if rendition:
        actions.append({"action": "c2pa.opened", "parameters": {"ingredientIds": [RENDITION_LABEL]}})
        actions.append({"action": "c2pa.resized", "digitalSourceType": source_type, "softwareAgent": agent})
    elif task in FROM_INPUT_TASKS and has_input:
        actions.append({"action": "c2pa.opened", "parameters": {"ingredientIds": [INGREDIENT_LABEL]}})
        actions.append({"action": "c2pa.edited", "digitalSourceType": source_type, "softwareAgent": agent})
    else:
        actions.append({"action": "c2pa.created", "digitalSourceType": source_type, "softwareAgent": agent})
    return {
        "claim_generator_info": [{"name": SOFTWARE, "version": _version()}],
        "title": f"atelier-{task}-thumbnail" if rendition else f"atelier-{task}",
        "format": content_type,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}],
    }


class Marker:
    """Signs with one credential; a signer is made per call (the native signer is consumed by a context)."""

    def __init__(self, credential: Credential) -> None:
        self.credential = credential
        self._context = c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
        self._lock = threading.Lock()  # one native context shared by the worker's threads

    @classmethod
    def from_settings(cls, settings: Settings) -> Marker:
        return cls(credential_for(settings))

    def _signer(self) -> c2pa.Signer:
        info = c2pa.C2paSignerInfo(
            alg=b"es256", sign_cert=self.credential.chain_pem, private_key=self.credential.key_pem, ta_url=None
        )
        return c2pa.Signer.from_info(info)

    def mark(
        self,
        data: bytes,
        content_type: str,
        *,
        task: str,
        model_id: str,
        input_image: bytes | None = None,
        input_content_type: str | None = None,
        rendition_of: bytes | None = None,
    ) -> Marked:
        """`data` with XMP and a signed manifest; `input_image` becomes the ingredient of an edit.

        With `rendition_of` (the marked output `data` was scaled from), `data` is marked as its thumbnail."""
        source_type = digital_source_type(task)
        with_xmp = embed_xmp(data, content_type, xmp_packet(source_type, creator_tool=f"{SOFTWARE} {model_id}"))
        has_input = input_image is not None and input_content_type is not None
        definition = manifest_for(
            task=task,
            model_id=model_id,
            content_type=content_type,
            has_input=has_input,
            rendition=rendition_of is not None,
        )
        out = io.BytesIO()
        with self._lock, self._signer() as signer, c2pa.Builder(definition, context=self._context) as builder:
            if rendition_of is not None:
                parent = {"title": "output", "relationship": "parentOf", "label": RENDITION_LABEL}
                builder.add_ingredient(parent, _content_type(rendition_of), io.BytesIO(rendition_of))
            elif has_input and input_image is not None and input_content_type is not None:
                ingredient = {"title": "input", "relationship": "parentOf", "label": INGREDIENT_LABEL}
                builder.add_ingredient(ingredient, input_content_type, io.BytesIO(input_image))
            builder.sign(signer, content_type, io.BytesIO(with_xmp), out)
        return Marked(out.getvalue(), source_type, True)
