"""History, downloads, signed links, ownership, deletion with purge, publishing and the public gallery, over HTTP."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from config.settings import Settings
from shared.accounts.preferences import get_preferences, set_preferences
from shared.kit.db import Database
from shared.media import service
from shared.media.models import MediaItem
from shared.media.storage import FILES_PATH, LocalStorage
from tests.support import images
from tests.support.jobs import job_row
from tests.support.media_app import MediaApp, User, media_app
from tests.support.tokens import HS256_SECRET


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return _settings(tmp_path)


@pytest.fixture(params=["local", "supabase"])
def media(request: pytest.FixtureRequest, settings: Settings, db: Database) -> Iterator[MediaApp]:
    with media_app(settings, db, request.param) as app:
        yield app


@pytest.fixture
def local(settings: Settings, db: Database) -> Iterator[MediaApp]:
    with media_app(settings, db, "local") as app:
        yield app


def _sign_in(media: MediaApp, who: User) -> None:
    assert media.client.get("/v1/me", headers=who.headers).status_code == 200  # creates the account row


def _output(media: MediaApp, who: User, *, prompt: str = "a red fox", model: str = "flux-schnell",
            task: str = "text-to-image", color: tuple[int, int, int] = (200, 10, 10)) -> MediaItem:  # fmt: skip
    data = images.plain("PNG", (24, 16), color)
    with media.db.transaction() as conn:
        return service.store_output(
            conn,
            media.storage,
            user_id=who.id,
            job_id=job_row(conn, who.id),
            data=data,
            content_type="image/png",
            width=24,
            height=16,
            task=task,
            model=model,
            prompt=prompt,
        )


def _upload(media: MediaApp, who: User) -> str:
    response = media.client.post(
        "/v1/uploads", headers=who.headers, files={"file": ("a.png", images.plain(), "image/png")}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _row(db: Database, media_id: object) -> dict[str, object] | None:
    with db.transaction() as conn:
        return conn.execute("select * from media where id = %s", (media_id,)).fetchone()


# --- history --------------------------------------------------------------------------------------------------


def test_history_lists_the_callers_images_newest_first_with_signed_urls(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    _sign_in(media, ada)
    upload_id = _upload(media, ada)
    output = _output(media, ada, prompt="a lighthouse at dusk")

    response = media.client.get("/v1/media", headers=ada.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    assert [item["id"] for item in body["items"]] == [str(output.id), upload_id]
    first = body["items"][0]
    assert first["kind"] == "output"
    assert first["prompt"] == "a lighthouse at dusk"
    assert first["model"] == "flux-schnell"
    assert first["task"] == "text-to-image"
    assert first["job_id"] == str(output.job_id)
    assert (first["width"], first["height"], first["content_type"]) == (24, 16, "image/png")
    assert first["public"] is False
    fetched = media.fetch(first["url"])
    assert fetched.status_code == 200
    assert fetched.content == media.storage.get(output.storage_key)
    assert "user_id" not in first
    assert "storage_key" not in first


def test_history_filters_by_kind_task_model_and_time(local: MediaApp) -> None:
    ada = local.member("ada@example.com")
    _sign_in(local, ada)
    upload_id = _upload(local, ada)
    fox = _output(local, ada, model="flux-schnell", task="text-to-image")
    edit = _output(local, ada, model="flux-kontext", task="edit")

    def ids(query: str) -> list[str]:
        response = local.client.get(f"/v1/media?{query}", headers=ada.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids("kind=upload") == [upload_id]
    assert ids("kind=output") == [str(edit.id), str(fox.id)]
    assert ids("task=edit") == [str(edit.id)]
    assert ids("model=flux-schnell") == [str(fox.id)]
    after = (fox.created_at - timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"after={after}") == [str(edit.id), str(fox.id)]
    before = fox.created_at.isoformat().replace("+00:00", "Z")
    assert ids(f"before={before}") == [upload_id]
    assert local.client.get("/v1/media?kind=pdf", headers=ada.headers).status_code == 422


def test_history_searches_the_callers_prompts_by_word_prefix_with_the_task_filter(local: MediaApp) -> None:
    ada = local.member("ada@example.com")
    bob = local.member("bob@example.com")
    _sign_in(local, ada)
    _sign_in(local, bob)
    tower = _output(local, ada, prompt="A Lighthouse tower at dusk, watercolor", task="text_to_image")
    harbour = _output(local, ada, prompt="a harbour at dusk", task="edit")
    _output(local, bob, prompt="a lighthouse tower")  # someone else's: never found
    glass = _output(local, ada, prompt="a glass greenhouse x-198572, 12.5mm lens")
    _upload(local, ada)  # no prompt

    def ids(**query: str) -> list[str]:
        response = local.client.get("/v1/media", params=query, headers=ada.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(q="lighthouse") == [str(tower.id)]
    assert ids(q="LIGHT tow") == [str(tower.id)]  # every word, each the start of a word, any case
    assert ids(q="dusk") == [str(harbour.id), str(tower.id)]
    # the search is cut into words by the parser that indexed the prompt: a signed number, a decimal, a hyphen
    assert ids(q="a glass greenhouse x-198572, 12.5mm lens") == [str(glass.id)]
    assert ids(q="x-19 12.5") == [str(glass.id)]
    assert ids(q="dusk", task="edit") == [str(harbour.id)]
    assert ids(q="lighthouse harbour") == []
    assert ids(q="(tower) & | !:* 'light'") == [str(tower.id)]  # tsquery syntax in a search is only text
    assert ids(q="!!") == ids()  # no words: no filter
    with local.db.transaction() as conn:
        plan = conn.execute(
            "explain select id from media where deleted_at is null and "
            "to_tsvector('simple', coalesce(prompt, '')) @@ atelier_prompt_query('light')"
        ).fetchall()
        indexes = conn.execute("select indexdef from pg_indexes where indexname = 'media_prompt_search'").fetchall()
    assert plan  # the expression is valid SQL
    assert "to_tsvector('simple'::regconfig, COALESCE(prompt, ''::text))" in indexes[0]["indexdef"]
    assert local.client.get("/v1/media", params={"q": "x" * 201}, headers=ada.headers).status_code == 422


def test_history_cursor_stays_stable_while_new_images_arrive(local: MediaApp) -> None:
    ada = local.member("ada@example.com")
    _sign_in(local, ada)
    made = [_output(local, ada, prompt=f"image {i}") for i in range(5)]
    expected = [str(item.id) for item in reversed(made)]

    first = local.client.get("/v1/media?limit=2", headers=ada.headers).json()
    assert [item["id"] for item in first["items"]] == expected[:2]
    _output(local, ada, prompt="arrived meanwhile")  # newer than everything: must not shift later pages
    second = local.client.get(f"/v1/media?limit=2&cursor={first['next_cursor']}", headers=ada.headers).json()
    third = local.client.get(f"/v1/media?limit=2&cursor={second['next_cursor']}", headers=ada.headers).json()
    assert [item["id"] for item in second["items"]] == expected[2:4]
    assert [item["id"] for item in third["items"]] == expected[4:]
    assert third["next_cursor"] is None
    bad = local.client.get("/v1/media?cursor=not-a-cursor", headers=ada.headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_cursor"


def test_download_is_an_attachment_with_the_stored_bytes(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    _sign_in(media, ada)
    output = _output(media, ada)
    response = media.client.get(f"/v1/media/{output.id}/download", headers=ada.headers)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="atelier-{output.id}.png"'
    assert response.headers["content-type"] == "image/png"
    assert response.content == media.storage.get(output.storage_key)
    assert Image.open(io.BytesIO(response.content)).size == (24, 16)


def test_the_download_url_saves_the_image_under_a_name_made_of_its_prompt(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    _sign_in(media, ada)
    output = _output(media, ada, prompt="A Red Fox, at dawn! Éclat of the morning sun")
    body = media.client.get(f"/v1/media/{output.id}", headers=ada.headers).json()
    url = body["download_url"]
    response = media.client.get(url) if url.startswith("http://testserver/") else httpx.get(url)
    assert response.status_code == 200
    assert response.content == media.storage.get(output.storage_key)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename=atelier-a-red-fox-at-dawn-eclat-{output.id}.png" in disposition.replace('"', "")
    # The image's own link stays inline; lists leave the download link out (one signature per item).
    assert "content-disposition" not in {k.lower() for k in media.fetch_headers(body["url"])}
    listed = media.client.get("/v1/media", headers=ada.headers).json()["items"]
    assert [item["download_url"] for item in listed] == [None]


# --- ownership and signed links ---------------------------------------------------------------------------------


def test_another_user_gets_404_for_everything(media: MediaApp) -> None:
    ada, bob = media.member("ada@example.com"), media.member("bob@example.com")
    _sign_in(media, ada)
    output = _output(media, ada)
    upload_id = _upload(media, ada)

    for media_id in (str(output.id), upload_id, str(uuid.uuid4())):
        for method, path, kwargs in [
            ("GET", f"/v1/media/{media_id}", {}),
            ("GET", f"/v1/media/{media_id}/download", {}),
            ("DELETE", f"/v1/media/{media_id}", {}),
            ("PATCH", f"/v1/media/{media_id}", {"json": {"public": True}}),
        ]:
            response = media.client.request(method, path, headers=bob.headers, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "not_found"
    assert media.client.get("/v1/media", headers=bob.headers).json()["items"] == []
    # nothing of Ada's changed
    assert len(media.client.get("/v1/media", headers=ada.headers).json()["items"]) == 2
    assert _row(media.db, output.id)["public"] is False  # type: ignore[index]


def test_local_signed_links_refuse_tampering_and_expiry_with_403(local: MediaApp) -> None:
    ada = local.member("ada@example.com")
    _sign_in(local, ada)
    output = _output(local, ada)
    url = local.client.get(f"/v1/media/{output.id}", headers=ada.headers).json()["url"]
    path = urlsplit(url).path
    assert url.startswith("http://testserver/v1/files/")
    assert local.client.get(path).status_code == 200  # no credentials needed: the link is the grant

    token = path[len(FILES_PATH) :]
    payload, _, signature = token.partition(".")
    other = _output(local, ada, color=(0, 0, 255))
    other_payload = local.storage.signed_url(other.storage_key)[len(FILES_PATH) :].partition(".")[0]
    for forged in (f"{other_payload}.{signature}", f"{payload}.{signature[:-3]}abc", f"{payload}x.{signature}"):
        response = local.client.get(f"{FILES_PATH}{forged}")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "signed_url_invalid"

    assert isinstance(local.storage, LocalStorage)
    expired = local.storage.signed_url(output.storage_key, seconds=-1)
    response = local.client.get(expired)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "signed_url_expired"


def test_signed_link_lifetime_follows_the_setting(tmp_path: Path, db: Database) -> None:
    with media_app(_settings(tmp_path, signed_url_seconds=120), db, "supabase") as media:
        ada = media.member("ada@example.com")
        _sign_in(media, ada)
        output = _output(media, ada)
        media.client.get(f"/v1/media/{output.id}", headers=ada.headers)
        assert media.api is not None
        signs = [r for r in media.api.requests if "/object/sign/" in r.path and r.method == "POST"]
        assert signs
        assert all(b'"expiresIn": "120"' in r.body or b'"expiresIn":"120"' in r.body for r in signs)


# --- delete and purge -------------------------------------------------------------------------------------------


def test_delete_hides_at_once_and_the_purge_removes_the_object(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    _sign_in(media, ada)
    output = _output(media, ada)
    keep = _output(media, ada, prompt="keep me")
    assert media.client.patch(f"/v1/media/{output.id}", headers=ada.headers, json={"public": True}).status_code == 200
    url = media.client.get(f"/v1/media/{output.id}", headers=ada.headers).json()["url"]
    assert [item["id"] for item in media.client.get("/v1/gallery").json()["items"]] == [str(output.id)]

    response = media.client.delete(f"/v1/media/{output.id}", headers=ada.headers)

    assert response.status_code == 204
    assert media.client.get(f"/v1/media/{output.id}", headers=ada.headers).status_code == 404
    assert media.client.get(f"/v1/media/{output.id}/download", headers=ada.headers).status_code == 404
    assert media.client.delete(f"/v1/media/{output.id}", headers=ada.headers).status_code == 404
    history = media.client.get("/v1/media", headers=ada.headers).json()["items"]
    assert [item["id"] for item in history] == [str(keep.id)]
    assert media.client.get("/v1/gallery").json()["items"] == []
    assert media.client.get(f"/v1/gallery/{output.id}/image").status_code == 404
    if media.api is None:
        assert media.fetch(url).status_code == 404  # a link handed out before the delete stops working too
    row = _row(media.db, output.id)
    assert row is not None
    assert row["purge_after"] is not None
    assert row["purge_after"] - row["deleted_at"] > timedelta(days=29)  # type: ignore[operator]

    now = datetime.now(UTC)
    assert service.purge_media(media.db, media.storage, now=now, limit=100) == 0  # not due yet
    assert media.storage.exists(output.storage_key)
    assert service.purge_media(media.db, media.storage, now=now + timedelta(days=31), limit=100) == 1
    assert not media.storage.exists(output.storage_key)
    assert output.storage_key not in media.all_keys()
    assert _row(media.db, output.id) is None
    assert media.storage.exists(keep.storage_key)  # nothing else went with it
    assert service.purge_media(media.db, media.storage, now=now + timedelta(days=31), limit=100) == 0


def test_with_no_trash_period_the_object_goes_in_the_request(tmp_path: Path, db: Database) -> None:
    for backend in ("local", "supabase"):
        with media_app(_settings(tmp_path / backend, trash_days=0), db, backend) as media:
            ada = media.member(f"ada-{backend}@example.com")
            upload_id = _upload(media, ada)
            key = str(_row(db, upload_id)["storage_key"])  # type: ignore[index]
            assert media.storage.exists(key)
            assert media.client.delete(f"/v1/media/{upload_id}", headers=ada.headers).status_code == 204
            assert not media.storage.exists(key)
            assert _row(db, upload_id) is None


def test_two_purges_at_once_remove_each_item_exactly_once(local: MediaApp) -> None:
    ada = local.member("ada@example.com")
    _sign_in(local, ada)
    outputs = [_output(local, ada, prompt=f"n{i}") for i in range(30)]
    for item in outputs:
        assert local.client.delete(f"/v1/media/{item.id}", headers=ada.headers).status_code == 204
    later = datetime.now(UTC) + timedelta(days=40)
    counts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def purge() -> None:
        start.wait()
        try:
            while True:
                n = service.purge_media(local.db, local.storage, now=later, limit=7)
                counts.append(n)
                if n == 0:
                    return
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=purge) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(counts) == 30
    assert local.all_keys() == []
    with local.db.transaction() as conn:
        assert conn.execute("select count(*) as n from media").fetchone()["n"] == 0  # type: ignore[index]


def test_a_purge_interrupted_after_claiming_is_retried_after_its_lease(local: MediaApp) -> None:
    ada = local.member("ada@example.com")
    _sign_in(local, ada)
    output = _output(local, ada)
    assert local.client.delete(f"/v1/media/{output.id}", headers=ada.headers).status_code == 204
    later = datetime.now(UTC) + timedelta(days=31)
    with local.db.transaction() as conn:  # a purger claimed the row, then died before deleting anything
        from shared.media import repo

        claimed = repo.claim_purgeable(conn, later, later + service.PURGE_LEASE, 10)
        assert claimed == [(output.id, [output.storage_key, output.thumbnail_key])]
    assert service.purge_media(local.db, local.storage, now=later, limit=10) == 0  # leased: left alone
    assert local.storage.exists(output.storage_key)
    after_lease = later + service.PURGE_LEASE + timedelta(seconds=1)
    assert service.purge_media(local.db, local.storage, now=after_lease, limit=10) == 1
    assert not local.storage.exists(output.storage_key)
    assert output.thumbnail_key is not None
    assert not local.storage.exists(output.thumbnail_key)  # the thumbnail goes with its image


# --- publishing and the gallery ---------------------------------------------------------------------------------


def test_publish_and_withdraw_an_output_but_never_an_upload(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    _sign_in(media, ada)
    output = _output(media, ada)
    upload_id = _upload(media, ada)

    refused = media.client.patch(f"/v1/media/{upload_id}", headers=ada.headers, json={"public": True})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "not_publishable"

    published = media.client.patch(f"/v1/media/{output.id}", headers=ada.headers, json={"public": True})
    assert published.status_code == 200
    assert published.json()["public"] is True
    assert published.json()["published_at"] is not None
    assert [item["id"] for item in media.client.get("/v1/gallery").json()["items"]] == [str(output.id)]

    withdrawn = media.client.patch(f"/v1/media/{output.id}", headers=ada.headers, json={"public": False})
    assert withdrawn.json()["public"] is False
    assert withdrawn.json()["published_at"] is None
    assert media.client.get("/v1/gallery").json()["items"] == []
    assert media.client.get(f"/v1/gallery/{output.id}/image").status_code == 404
    assert media.client.get(f"/v1/gallery/{upload_id}/image").status_code == 404  # uploads never
    bad = media.client.patch(f"/v1/media/{output.id}", headers=ada.headers, json={"public": "maybe"})
    assert bad.status_code == 422


def test_gallery_is_anonymous_and_shows_no_owner_and_no_upload(media: MediaApp) -> None:
    ada = media.member("ada.lovelace@example.com")
    _sign_in(media, ada)
    output = _output(media, ada, prompt="a brass orrery")
    _upload(media, ada)
    media.client.patch(f"/v1/media/{output.id}", headers=ada.headers, json={"public": True})

    response = media.client.get("/v1/gallery")

    assert response.status_code == 200
    [item] = response.json()["items"]
    assert set(item) == {"id", "url", "thumbnail_url", "width", "height", "prompt", "model", "published_at"}
    assert item["prompt"] == "a brass orrery"
    assert item["model"] == "flux-schnell"
    for secret in (str(ada.id), ada.email, "users/", "Lovelace"):
        assert secret not in response.text
    fetched = media.fetch(item["url"])
    assert fetched.status_code == 200
    assert fetched.content == media.storage.get(output.storage_key)
    thumb = media.fetch(item["thumbnail_url"])
    assert (thumb.status_code, thumb.content_type) == (200, "image/webp")
    assert "users/" not in item["thumbnail_url"]


def test_one_gallery_item_by_its_link_shows_the_public_fields_only_and_goes_when_withdrawn(media: MediaApp) -> None:
    ada = media.member("ada.lovelace@example.com")
    _sign_in(media, ada)
    output = _output(media, ada, prompt="a brass orrery")
    private = _output(media, ada, prompt="not shared")
    media.client.patch(f"/v1/media/{output.id}", headers=ada.headers, json={"public": True})

    response = media.client.get(f"/v1/gallery/{output.id}")  # anonymous: a shared link opened in a new tab

    assert response.status_code == 200
    item = response.json()
    assert item == media.client.get("/v1/gallery").json()["items"][0]  # the very fields the gallery lists
    for secret in (str(ada.id), ada.email, "users/", "Lovelace"):
        assert secret not in response.text
    assert media.client.get(f"/v1/gallery/{private.id}").status_code == 404  # never published
    media.client.patch(f"/v1/media/{output.id}", headers=ada.headers, json={"public": False})
    gone = media.client.get(f"/v1/gallery/{output.id}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


def test_gallery_pages_newest_published_first(local: MediaApp) -> None:
    ada = local.member("ada@example.com")
    _sign_in(local, ada)
    made = [_output(local, ada, prompt=f"p{i}") for i in range(3)]
    for item in made:
        local.client.patch(f"/v1/media/{item.id}", headers=ada.headers, json={"public": True})
    first = local.client.get("/v1/gallery?limit=2").json()
    second = local.client.get(f"/v1/gallery?limit=2&cursor={first['next_cursor']}").json()
    assert [i["id"] for i in first["items"] + second["items"]] == [str(item.id) for item in reversed(made)]
    assert second["next_cursor"] is None


def test_opting_out_of_gallery_display_withdraws_all_of_that_users_items_at_once(media: MediaApp) -> None:
    ada, bob = media.member("ada@example.com"), media.member("bob@example.com")
    for who in (ada, bob):
        _sign_in(media, who)
    adas = [_output(media, ada, prompt=f"ada {i}") for i in range(3)]
    bobs = _output(media, bob, prompt="bob's")
    for item, who in [*((item, ada) for item in adas), (bobs, bob)]:
        media.client.patch(f"/v1/media/{item.id}", headers=who.headers, json={"public": True})
    assert len(media.client.get("/v1/gallery").json()["items"]) == 4

    with media.db.transaction() as conn:
        assert get_preferences(conn, ada.id).gallery_display is True  # the default
        set_preferences(conn, ada.id, gallery_display=False)

    image_url = f"/v1/gallery/{adas[0].id}/image"
    assert [i["id"] for i in media.client.get("/v1/gallery").json()["items"]] == [str(bobs.id)]
    assert media.client.get(image_url).status_code == 404  # image links stop at once too
    # her own history still shows them as published; opting back in restores them
    assert all(i["public"] for i in media.client.get("/v1/media", headers=ada.headers).json()["items"])
    with media.db.transaction() as conn:
        set_preferences(conn, ada.id, gallery_display=True)
    assert len(media.client.get("/v1/gallery").json()["items"]) == 4
    assert media.client.get(image_url).status_code == 200


def test_preferences_default_and_update(db: Database, local: MediaApp) -> None:
    ada = local.member("ada@example.com")
    _sign_in(local, ada)
    with db.transaction() as conn:
        defaults = get_preferences(conn, ada.id)
        assert (defaults.analytics, defaults.marketing_emails, defaults.gallery_display) == (False, False, True)
        assert defaults.service_improvement is False
        assert defaults.updated_at is None
        changed = set_preferences(conn, ada.id, analytics=True)
        assert changed.analytics is True
        assert changed.gallery_display is True
        assert changed.updated_at is not None
        again = set_preferences(conn, ada.id, gallery_display=False)
        assert again.analytics is True
        assert again.gallery_display is False
        with pytest.raises(ValueError, match="unknown"):
            set_preferences(conn, ada.id, colour=True)


def test_history_survives_an_object_missing_from_storage(media: MediaApp) -> None:
    ada = media.member("ada@example.com")
    _sign_in(media, ada)
    lost = _output(media, ada, prompt="lost")
    kept = _output(media, ada, prompt="kept")
    media.storage.delete([lost.storage_key])  # e.g. removed by hand in the provider's console
    response = media.client.get("/v1/media", headers=ada.headers)
    assert response.status_code == 200
    items = {item["id"]: item for item in response.json()["items"]}
    assert set(items) == {str(lost.id), str(kept.id)}
    assert media.fetch(items[str(kept.id)]["url"]).status_code == 200
    if items[str(lost.id)]["url"] is not None:  # the local backend signs without looking; the link then 404s
        assert media.fetch(items[str(lost.id)]["url"]).status_code == 404
    download = media.client.get(f"/v1/media/{lost.id}/download", headers=ada.headers)
    assert download.status_code == 404
