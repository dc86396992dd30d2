"""Reading the marks back: what the active C2PA manifest claims and whether its signature and hashes hold.

A development chain validates but is untrusted (`signingCredential.untrusted`); that is reported apart from
failures that mean the file was changed after signing or the signature is broken.
"""

from __future__ import annotations

import io
import json
from dataclasses import field
from typing import Any

import c2pa
from PIL import Image

from config.values import value
from shared.media.images import CONTENT_TYPES, sniff_format

UNTRUSTED = "signingCredential.untrusted"
# Informational only: no certificate is trusted without a trust list, OCSP is not fetched offline.
NOT_FAILURES = frozenset({UNTRUSTED, "signingCredential.ocsp.skipped"})


@value
class Verification:
    present: bool
    valid: bool = False  # signature and hashes check out (trusted or not)
    trusted: bool = False  # the signer chains to a configured trust anchor
    state: str | None = None  # c2pa's validation state: Invalid | Valid | Trusted
    actions: tuple[dict[str, Any], ...] = ()
    digital_source_types: tuple[str, ...] = ()
    claim_generator: tuple[dict[str, Any], ...] = ()
    signer: dict[str, Any] = field(default_factory=dict)
    ingredients: int = 0
    failures: tuple[str, ...] = ()
    manifest: dict[str, Any] = field(default_factory=dict)


def content_type_of(data: bytes) -> str | None:
    found = sniff_format(data)
    return CONTENT_TYPES[found] if found else None


def verify(data: bytes, content_type: str | None = None) -> Verification:
    """Inspect `data` (type sniffed when not given); never raises for a file without a manifest."""
    content_type = content_type or content_type_of(data)
    if content_type is None:
        return Verification(present=False, failures=("unsupported_format",))
    try:
        with c2pa.Reader(content_type, io.BytesIO(data)) as reader:
            report = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "not found" in str(exc).lower():
            return Verification(present=False)
        return Verification(present=True, failures=(f"unreadable: {type(exc).__name__}",))
    active = report.get("manifests", {}).get(report.get("active_manifest", ""), {})
    codes = [status.get("code", "") for status in report.get("validation_status", [])]
    failures = tuple(code for code in codes if code not in NOT_FAILURES)
    actions = tuple(
        action
        for assertion in active.get("assertions", [])
        if str(assertion.get("label", "")).startswith("c2pa.actions")
        for action in assertion.get("data", {}).get("actions", [])
    )
    return Verification(
        present=bool(active),
        valid=bool(active) and not failures and state in ("Valid", "Trusted"),
        trusted=state == "Trusted",
        state=state,
        actions=actions,
        digital_source_types=tuple(str(a["digitalSourceType"]) for a in actions if "digitalSourceType" in a),
        claim_generator=tuple(active.get("claim_generator_info", [])),
        signer=dict(active.get("signature_info", {})),
        ingredients=len(active.get("ingredients", [])),
        failures=failures,
        manifest=active,
    )


def xmp_digital_source_type(data: bytes) -> str | None:
    """The IPTC DigitalSourceType the file's XMP names, read with Pillow as other tools would."""
    with Image.open(io.BytesIO(data)) as image:
        packet = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if not packet:
        return None
    text = packet.decode() if isinstance(packet, bytes) else str(packet)
    marker = 'Iptc4xmpExt:DigitalSourceType="'
    start = text.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return text[start : text.index('"', start)]
