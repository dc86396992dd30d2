"""Uploads and support attachments under the decode memory budget (shared/media/decoding.py), over HTTP.

Each decode reserves its estimated peak first: no room within `ATELIER_DECODE_WAIT_SECONDS` is 503
`image_decoding_busy` with Retry-After, more than the whole budget is 422 `image_too_large`, and never a 500.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from config.settings import Settings
from shared.kit.db import Database
from shared.media.decoding import process_budget
from tests.support import images
from tests.support.media_app import MediaApp, media_app
from tests.support.threads import run_together
from tests.support.tokens import HS256_SECRET


def _webp(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (10, 120, 10)).save(out, "WEBP", lossless=True)
    return out.getvalue()


def _settings(tmp_path: Path, *, memory_mb: int, wait_seconds: float) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        supabase_jwt_secret=HS256_SECRET,
        decode_memory_mb=memory_mb,
        decode_wait_seconds=wait_seconds,
        rate_limit_overrides={"uploads.user": "1000/60", "uploads.ip": "1000/60"},
    )


@pytest.fixture
def media(tmp_path: Path, db: Database) -> Iterator[MediaApp]:
    with media_app(
        _settings(tmp_path, memory_mb=48, wait_seconds=0.2), db, "local", raise_server_exceptions=False
    ) as app:
        yield app


def _upload(media: MediaApp, headers: dict[str, str], body: bytes) -> tuple[int, str | None, str | None]:
    response = media.client.post("/v1/uploads", headers=headers, files={"file": ("x", body, "image/png")})
    code = response.json().get("error", {}).get("code") if response.status_code >= 400 else None
    return response.status_code, code, response.headers.get("retry-after")


def test_the_app_decodes_within_the_budget_its_settings_name(media: MediaApp) -> None:
    assert process_budget().total_bytes == 48 * 2**20
    assert process_budget().wait_seconds == 0.2


def test_with_the_budget_taken_an_upload_waits_then_answers_503_with_retry_after(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    budget = process_budget()
    with budget.reserve(budget.total_bytes):  # every byte held elsewhere, as by other decodes
        status, code, retry_after = _upload(media, ada.headers, images.plain("PNG", (64, 64)))
    assert (status, code) == (503, "image_decoding_busy")
    assert retry_after is not None
    assert int(retry_after) >= 1
    assert _upload(media, ada.headers, images.plain("PNG", (64, 64)))[0] == 201  # room again
    assert budget.reserved == 0


def test_an_upload_needing_more_than_the_whole_budget_is_422_not_a_wait(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    status, code, _ = _upload(media, ada.headers, _webp(2048))  # ~64 MB of canvases and copies, over 48 MB
    assert (status, code) == (422, "image_too_large")


def test_a_support_attachment_waits_for_the_same_budget(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    budget = process_budget()
    with budget.reserve(budget.total_bytes):
        response = media.client.post(
            "/v1/support/tickets",
            headers=ada.headers,
            data={"subject": "s", "message": "m"},
            files=[("attachments", ("a.png", images.plain("PNG", (64, 64)), "image/png"))],
        )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "image_decoding_busy"
    assert response.headers["retry-after"]


def test_concurrent_large_uploads_all_succeed_or_get_a_clear_503_never_a_500(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    bodies = [_webp(1024), images.plain("PNG", (1000, 1000)), images.plain("JPEG", (1000, 1000))] * 3

    def upload(body: bytes) -> Callable[[], tuple[int, str | None, str | None]]:
        return lambda: _upload(media, ada.headers, body)

    answers: list[tuple[int, str | None, str | None]] = run_together(*(upload(body) for body in bodies))
    assert len(answers) == len(bodies)
    for status, code, retry_after in answers:
        assert status in (201, 503), (status, code)
        if status == 503:
            assert code == "image_decoding_busy"
            assert retry_after is not None
    assert any(status == 201 for status, _, _ in answers)
    assert process_budget().reserved == 0
