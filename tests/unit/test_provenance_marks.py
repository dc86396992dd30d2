"""Provenance marks on encoded bytes: XMP in each container, a C2PA manifest read back by c2pa's own Reader."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from config.settings import Settings
from shared.provenance.marks import Marker
from shared.provenance.signing import SigningCredentialError, credential_for, development_credential
from shared.provenance.verify import verify, xmp_digital_source_type
from shared.provenance.xmp import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
    embed_xmp,
    xmp_packet,
)
from tests.support.production import MAIL_SETTINGS


def _encoded(fmt: str, mode: str = "RGB", **options: Any) -> bytes:
    image = Image.new(mode, (40, 24), (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30))
    for x in range(40):
        image.putpixel((x, x % 24), (10, 200, 10, 255) if mode == "RGBA" else (10, 200, 10))
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGBA").tobytes()


CONTAINERS = [
    ("PNG", "image/png", {}),
    ("WEBP", "image/webp", {"quality": 90}),  # lossy VP8: becomes the extended VP8X layout
    ("WEBP", "image/webp", {"lossless": True}),  # VP8L
    ("JPEG", "image/jpeg", {"quality": 90}),
]


@pytest.mark.parametrize(("fmt", "content_type", "options"), CONTAINERS)
def test_xmp_is_added_without_touching_the_pixels_and_replaced_not_doubled(
    fmt: str, content_type: str, options: dict[str, Any]
) -> None:
    original = _encoded(fmt, **options)
    marked = embed_xmp(original, content_type, xmp_packet(TRAINED_ALGORITHMIC_MEDIA, creator_tool="Atelier x"))
    assert xmp_digital_source_type(marked) == TRAINED_ALGORITHMIC_MEDIA
    assert _pixels(marked) == _pixels(original)
    again = embed_xmp(marked, content_type, xmp_packet(COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, creator_tool="y"))
    assert xmp_digital_source_type(again) == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert again.count(b"DigitalSourceType=") == 1


def test_a_webp_with_alpha_keeps_its_alpha_flag() -> None:
    original = _encoded("WEBP", mode="RGBA", lossless=True)
    marked = embed_xmp(original, "image/webp", xmp_packet(TRAINED_ALGORITHMIC_MEDIA, creator_tool="t"))
    with Image.open(io.BytesIO(marked)) as image:
        assert image.mode == "RGBA"
    assert _pixels(marked) == _pixels(original)


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Marker:
    return Marker(development_credential(tmp_path_factory.mktemp("c2pa")))


@pytest.mark.parametrize("content_type", ["image/webp", "image/png"])
def test_text_to_image_carries_a_created_action_that_validates(marker: Marker, content_type: str) -> None:
    data = _encoded("WEBP" if content_type == "image/webp" else "PNG")
    marked = marker.mark(data, content_type, task="text_to_image", model_id="flux-schnell")
    assert marked.c2pa_manifest
    assert marked.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    result = verify(marked.data)
    assert result.present
    assert result.valid
    assert not result.trusted
    assert [a["action"] for a in result.actions] == ["c2pa.created"]
    assert result.digital_source_types == (TRAINED_ALGORITHMIC_MEDIA,)
    agent = result.actions[0]["softwareAgent"]
    assert agent["name"] == "Atelier flux-schnell"
    assert agent["version"] == "741f7c3ce8b383c54771c7003378a50191e9efe9"  # the registry's pinned revision
    assert xmp_digital_source_type(marked.data) == TRAINED_ALGORITHMIC_MEDIA
    assert "thumbnail" not in result.manifest


def test_an_edit_names_its_input_as_ingredient_and_copies_none_of_its_pixels(marker: Marker) -> None:
    source = _encoded("PNG")
    marked = marker.mark(
        _encoded("WEBP"),
        "image/webp",
        task="edit",
        model_id="flux-kontext-dev",
        input_image=source,
        input_content_type="image/png",
    )
    result = verify(marked.data)
    assert result.valid
    assert [a["action"] for a in result.actions] == ["c2pa.opened", "c2pa.edited"]
    assert result.digital_source_types == (COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,)
    assert result.ingredients == 1
    ingredient = result.manifest["ingredients"][0]
    assert ingredient["relationship"] == "parentOf"
    assert "thumbnail" not in ingredient  # no copy of the user's image rides along


def test_a_changed_byte_fails_validation(marker: Marker) -> None:
    marked = bytearray(marker.mark(_encoded("PNG"), "image/png", task="text_to_image", model_id="flux-schnell").data)
    idat = marked.index(b"IDAT")
    marked[idat + 10] ^= 0xFF
    result = verify(bytes(marked))
    assert result.present
    assert not result.valid
    assert "assertion.dataHash.mismatch" in result.failures


def test_a_file_without_a_manifest_is_reported_absent() -> None:
    assert not verify(_encoded("PNG")).present
    assert not verify(b"not an image").present


def test_the_manifest_holds_no_personal_data(marker: Marker) -> None:
    marked = marker.mark(_encoded("PNG"), "image/png", task="text_to_image", model_id="flux-schnell")
    text = json.dumps(verify(marked.data).manifest)
    for personal in ("@", "user", "prompt", "email"):
        assert personal not in text.lower()


def test_the_development_chain_is_made_once_per_data_dir_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = credential_for(settings)
    assert first.is_development
    assert credential_for(settings) == first


def test_production_refuses_a_missing_or_development_credential(tmp_path: Path) -> None:
    production: dict[str, Any] = {
        "environment": "production",
        "database_url": "postgresql://db.example/postgres",
        "supabase_url": "https://proj.supabase.co",
        "supabase_secret_key": "sb_secret_real_value",
        "data_dir": tmp_path,
        **MAIL_SETTINGS,  # production also needs a real email sender and its public URL (issue 19)
    }
    with pytest.raises(SigningCredentialError, match="ATELIER_C2PA_CERT"):
        credential_for(Settings(**production))
    dev = development_credential(tmp_path / "dev")
    with pytest.raises(SigningCredentialError, match="development"):
        credential_for(Settings(**production, c2pa_cert=dev.chain_pem.decode(), c2pa_key=dev.key_pem.decode()))


def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path: Path) -> None:
    one, other = development_credential(tmp_path / "a"), development_credential(tmp_path / "b")
    (tmp_path / "chain.pem").write_bytes(one.chain_pem)
    settings = Settings(data_dir=tmp_path, c2pa_cert=str(tmp_path / "chain.pem"), c2pa_key=other.key_pem.decode())
    with pytest.raises(SigningCredentialError, match="does not belong"):
        credential_for(settings)
