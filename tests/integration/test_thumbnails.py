"""Thumbnails: made when an image is stored, served by the same signed links, gone with their image."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from config.settings import Settings
from shared.kit.db import Database
from shared.media.thumbnails import THUMBNAIL_SIDE
from tests.support import images
from tests.support.media_app import MediaApp, media_app, user
from tests.support.tokens import HS256_SECRET


@pytest.fixture(params=["local", "supabase"])
def media(request: pytest.FixtureRequest, tmp_path: Path, db: Database) -> Iterator[MediaApp]:
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, trash_days=0)
    with media_app(settings, db, request.param) as app:
        yield app


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "WEBP"
        return image.size


def test_an_upload_gets_a_small_webp_thumbnail_behind_a_signed_link(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    big = images.plain("PNG", (1200, 800), (200, 100, 50))
    created = media.client.post("/v1/uploads", headers=ada.headers, files={"file": ("a.png", big, "image/png")})
    assert created.status_code == 201, created.text
    item = media.client.get(f"/v1/media/{created.json()['id']}", headers=ada.headers).json()
    assert item["thumbnail_url"] != item["url"]
    thumb = media.fetch(item["thumbnail_url"])
    assert thumb.status_code == 200
    assert thumb.content_type == "image/webp"
    assert _size(thumb.content) == (THUMBNAIL_SIDE, THUMBNAIL_SIDE * 2 // 3)  # aspect kept, long side capped
    listed = media.client.get("/v1/media", headers=ada.headers).json()["items"]
    assert [i["thumbnail_url"] is not None for i in listed] == [True]
    assert media.client.get(f"/v1/media/{item['id']}", headers=user("bob@example.com").headers).status_code == 404


def test_a_small_image_is_never_enlarged_and_a_mask_gets_no_thumbnail(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    small = media.client.post(
        "/v1/uploads", headers=ada.headers, files={"file": ("s.png", images.plain("PNG", (40, 30)), "image/png")}
    ).json()
    mask = media.client.post(
        "/v1/uploads",
        headers=ada.headers,
        files={"file": ("m.png", images.plain("PNG", (40, 30)), "image/png")},
        data={"purpose": "mask"},
    ).json()
    with media.db.transaction() as conn:
        rows = {
            r["id"]: r["thumbnail_key"]
            for r in conn.execute("select id, thumbnail_key from media where user_id = %s", (ada.id,)).fetchall()
        }
    assert rows[_uuid(mask["id"])] is None
    thumb_key = rows[_uuid(small["id"])]
    assert thumb_key == f"users/{ada.id}/thumbnails/{small['id']}.webp"
    assert _size(media.storage.get(thumb_key)) == (40, 30)


def _uuid(text: str) -> uuid.UUID:
    return uuid.UUID(text)


def test_deleting_an_image_takes_its_thumbnail_and_its_link_at_once(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    created = media.client.post(
        "/v1/uploads", headers=ada.headers, files={"file": ("a.png", images.plain("PNG", (600, 400)), "image/png")}
    ).json()
    item = media.client.get(f"/v1/media/{created['id']}", headers=ada.headers).json()
    with media.db.transaction() as conn:
        row = conn.execute(
            "select storage_key, thumbnail_key from media where id = %s", (_uuid(item["id"]),)
        ).fetchone()
    assert row is not None
    assert media.storage.exists(row["thumbnail_key"])
    assert media.client.delete(f"/v1/media/{item['id']}", headers=ada.headers).status_code == 204
    gone = media.fetch(item["thumbnail_url"])
    if media.api is None:
        assert gone.status_code == 404
    else:  # Supabase Storage answers a signed link to a missing object as the real server does
        assert (gone.status_code, json.loads(gone.content)["code"]) == (400, "NoSuchKey")
    assert not media.storage.exists(row["thumbnail_key"])  # trash_days=0: purged in the request
    assert not media.storage.exists(row["storage_key"])
