"""POST /v1/uploads over HTTP: metadata is stripped, bad files get their status and code, nothing half-stored."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from config.settings import Settings
from shared.kit.db import Database
from tests.support import images
from tests.support.media_app import MediaApp, media_app
from tests.support.tokens import HS256_SECRET

MAX_BYTES = 200_000
MAX_PIXELS = 1_000_000


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        supabase_jwt_secret=HS256_SECRET,
        max_upload_bytes=MAX_BYTES,
        max_upload_pixels=MAX_PIXELS,
    )


@pytest.fixture(params=["local", "supabase"])
def media(request: pytest.FixtureRequest, settings: Settings, db: Database) -> Iterator[MediaApp]:
    with media_app(settings, db, request.param) as app:
        yield app


def _media_rows(db: Database) -> list[dict[str, object]]:
    with db.transaction() as conn:
        return conn.execute("select * from media").fetchall()


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_upload_strips_every_piece_of_metadata_and_applies_orientation(
    media: MediaApp, db: Database, fmt: str, content_type: str
) -> None:
    ada = media.member("ada@example.com")
    raw = images.photo(fmt, size=(64, 32))
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # the original really carries GPS

    response = media.client.post("/v1/uploads", headers=ada.headers, files={"file": ("holiday", raw, "image/jpeg")})

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "width", "height", "content_type", "bytes"}
    assert (body["width"], body["height"]) == (32, 64)  # orientation 6 applied: the pixels are upright now
    assert body["content_type"] == content_type
    [row] = _media_rows(db)
    assert str(row["id"]) == body["id"]
    assert row["kind"] == "upload"
    assert row["storage_key"] == f"users/{ada.id}/uploads/{body['id']}.{'jpg' if fmt == 'JPEG' else fmt.lower()}"
    stored = media.storage.get(str(row["storage_key"]))
    assert len(stored) == body["bytes"] == row["bytes"]

    cleaned = Image.open(io.BytesIO(stored))
    assert cleaned.format == fmt
    assert len(cleaned.getexif()) == 0
    assert "exif" not in cleaned.info
    for key in ("icc_profile", "xmp", "comment", "Comment", "XML:com.adobe.xmp"):
        assert key not in cleaned.info
    for marker in (b"Exif", images.CAMERA_MAKER.encode(), b"secret-location", b"shot at home"):
        assert marker not in stored
    # the blue mark sat top-left of the landscape original; after rotating 90° clockwise it is top-right
    rgb = cleaned.convert("RGB")
    assert rgb.getpixel((28, 2))[2] > 150  # type: ignore[index]
    assert rgb.getpixel((2, 60))[0] > 150  # type: ignore[index]


def test_mask_is_stored_lossless_as_its_own_kind(media: MediaApp, db: Database) -> None:
    ada = media.member("ada@example.com")
    response = media.client.post(
        "/v1/uploads",
        headers=ada.headers,
        files={"file": ("mask.jpg", images.plain("JPEG", (20, 10)), "image/jpeg")},
        data={"purpose": "mask"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/png"
    [row] = _media_rows(db)
    assert row["kind"] == "mask"
    assert str(row["storage_key"]).endswith(".png")


def _chunked(parts: list[bytes]) -> Iterator[bytes]:
    yield from parts


def _multipart(data: bytes, boundary: str = "atelierboundary") -> tuple[bytes, str]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


BAD_UPLOADS = {
    "gif": (images.gif, 415, "unsupported_media_type"),
    "text": (lambda: b"hello, this is not an image at all", 415, "unsupported_media_type"),
    "pdf": (lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", 415, "unsupported_media_type"),
    "corrupt jpeg": (lambda: b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50, 422, "invalid_image"),
    "truncated jpeg": (lambda: images.photo("JPEG")[:300], 422, "invalid_image"),
    "truncated png": (lambda: images.plain("PNG")[:60], 422, "invalid_image"),
    "too many pixels": (lambda: images.plain("PNG", (1001, 1000)), 422, "image_too_large"),
    "decompression bomb": (images.png_bomb, 422, "image_too_large"),
    "over the byte limit, by its length": (lambda: images.noise_png(400, 400), 413, "payload_too_large"),
    "over the byte limit, inside the slack": (lambda: images.noise_png(270, 270), 413, "payload_too_large"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_each_bad_upload_gets_its_status_and_code_and_leaves_nothing(media: MediaApp, db: Database, case: str) -> None:
    make, status, code = BAD_UPLOADS[case]
    data = make()
    ada = media.member("ada@example.com")
    response = media.client.post("/v1/uploads", headers=ada.headers, files={"file": ("upload", data, "image/png")})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert _media_rows(db) == []
    assert media.all_keys() == []


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(media: MediaApp, db: Database) -> None:
    ada = media.member("ada@example.com")
    body, content_type = _multipart(images.noise_png(400, 400))
    chunks = [body[i : i + 32_768] for i in range(0, len(body), 32_768)]
    response = media.client.post(
        "/v1/uploads", headers={**ada.headers, "Content-Type": content_type}, content=_chunked(chunks)
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert _media_rows(db) == []
    assert media.all_keys() == []


def test_a_request_without_the_file_field_is_invalid(media: MediaApp, db: Database) -> None:
    ada = media.member("ada@example.com")
    response = media.client.post("/v1/uploads", headers=ada.headers, data={"purpose": "image"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    response = media.client.post(
        "/v1/uploads",
        headers=ada.headers,
        files={"file": ("a.png", images.plain(), "image/png")},
        data={"purpose": "x"},
    )
    assert response.status_code == 422
    assert _media_rows(db) == []
    assert media.all_keys() == []


def test_uploads_need_a_token(media: MediaApp, db: Database) -> None:
    response = media.client.post("/v1/uploads", files={"file": ("a.png", images.plain(), "image/png")})
    assert response.status_code == 401
    assert _media_rows(db) == []
    assert media.all_keys() == []


@pytest.mark.parametrize("backend", ["local", "supabase"])
def test_when_the_row_cannot_be_written_the_object_is_deleted_again(
    settings: Settings, db: Database, backend: str
) -> None:
    with db.transaction() as conn:  # the database refuses media rows, as a failing disk or constraint would
        conn.execute(
            """create function refuse_media() returns trigger language plpgsql as
               $$ begin raise exception 'media refused'; end; $$"""
        )
        conn.execute("create trigger media_refused before insert on media for each row execute function refuse_media()")
    with media_app(settings, db, backend, raise_server_exceptions=False) as media:
        ada = media.member("ada@example.com")
        response = media.client.post(
            "/v1/uploads", headers=ada.headers, files={"file": ("a.png", images.plain(), "image/png")}
        )
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert media.all_keys() == []
        if media.api is not None:  # the object really was written first, then removed
            assert any(r.method == "POST" for r in media.api.requests)
            assert any(r.method == "DELETE" for r in media.api.requests)
    assert _media_rows(db) == []
