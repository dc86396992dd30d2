"""One contract for every storage backend: the local folder and Supabase Storage (over real HTTP to a stand-in).

The Supabase backend is the production code path through storage3; only the remote service is replaced, by a
loopback server that answers storage3's requests in Supabase's shapes (tests/support/fake_storage_api.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from config.settings import Settings
from shared.kit.errors import Forbidden
from shared.media.storage import (
    FILES_PATH,
    LocalStorage,
    ObjectMissing,
    SignedUrlExpired,
    SignedUrlInvalid,
    Storage,
    StorageUnavailable,
    SupabaseStorage,
    build_storage,
)
from tests.support.fake_storage_api import BUCKET, SECRET_KEY, FakeStorageApi, fake_storage_api


@dataclass
class Backend:
    name: str
    storage: Storage
    fetch: Callable[[str], bytes]  # follow a signed URL as a browser would; raises Forbidden when refused
    api: FakeStorageApi | None = None


def _local(tmp_path: Path) -> Iterator[Backend]:
    storage = LocalStorage(tmp_path / "storage", signed_url_seconds=60)

    def fetch(url: str) -> bytes:
        assert url.startswith(FILES_PATH)
        return storage.get(storage.verify_token(url[len(FILES_PATH) :]))

    yield Backend("local", storage, fetch)


def _supabase() -> Iterator[Backend]:
    with fake_storage_api() as api:
        storage = SupabaseStorage(api.url, SECRET_KEY, BUCKET, signed_url_seconds=60)

        def fetch(url: str) -> bytes:
            response = httpx.get(url)
            if response.status_code != 200:
                raise Forbidden(response.text)
            return response.content

        try:
            yield Backend("supabase", storage, fetch, api)
        finally:
            storage.close()


@pytest.fixture(params=["local", "supabase"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from (_local(tmp_path) if request.param == "local" else _supabase())


def _key(user: uuid.UUID | None = None, kind: str = "uploads", name: str | None = None) -> str:
    return f"users/{user or uuid.uuid4()}/{kind}/{name or uuid.uuid4().hex + '.png'}"


def test_put_get_exists_round_trip(backend: Backend) -> None:
    key = _key()
    assert not backend.storage.exists(key)
    backend.storage.put(key, b"\x89PNG first", "image/png")
    assert backend.storage.exists(key)
    assert backend.storage.get(key) == b"\x89PNG first"


def test_put_file_streams_a_local_file_into_an_object(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "archive.zip"
    payload = bytes(range(256)) * 1024 + b"tail"  # several chunks, not a multiple of the chunk size
    source.write_bytes(payload)
    key = _key(kind="exports", name="one.zip")
    backend.storage.put(key, b"an older archive", "application/zip")
    backend.storage.put_file(key, source, "application/zip")  # overwrites, like put
    assert backend.storage.get(key) == payload
    assert source.read_bytes() == payload  # the local file is left to its owner


def test_put_overwrites_an_existing_object(backend: Backend) -> None:
    key = _key()
    backend.storage.put(key, b"one", "image/png")
    backend.storage.put(key, b"two", "image/png")
    assert backend.storage.get(key) == b"two"
    if backend.api is not None:  # upsert travels as the string "true", which is what Supabase checks
        uploads = [r for r in backend.api.requests if r.method == "POST" and "/object/atelier/" in r.path]
        assert [{k.lower(): v for k, v in r.headers.items()}.get("x-upsert") for r in uploads] == ["true", "true"]


def test_missing_object_is_object_missing(backend: Backend) -> None:
    key = _key()
    with pytest.raises(ObjectMissing):
        backend.storage.get(key)
    with pytest.raises(ObjectMissing):
        b"".join(backend.storage.open(key))


def test_open_streams_the_whole_object_in_chunks(backend: Backend) -> None:
    key = _key()
    data = bytes(range(256)) * 1024  # 256 KiB: several chunks
    backend.storage.put(key, data, "image/png")
    chunks = list(backend.storage.open(key))
    assert len(chunks) > 1
    assert b"".join(chunks) == data


def test_list_is_recursive_and_stays_inside_the_prefix(backend: Backend) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    mine = sorted([_key(user, "uploads", "a.png"), _key(user, "outputs", "b.png"), _key(user, "outputs", "c.webp")])
    for key in [*mine, _key(other, "uploads", "a.png")]:
        backend.storage.put(key, b"x", "image/png")
    assert backend.storage.list(f"users/{user}/") == mine
    assert backend.storage.list(f"users/{user}/outputs/") == mine[:2]
    assert backend.storage.list(f"users/{uuid.uuid4()}/") == []
    with pytest.raises(ValueError, match="folder"):
        backend.storage.list(f"users/{user}")


def test_delete_many_ignores_missing_and_batches_over_a_thousand(backend: Backend) -> None:
    user = uuid.uuid4()
    keys = [_key(user, "outputs", f"{i:05d}.png") for i in range(1003)]
    for key in keys:
        backend.storage.put(key, b"x", "image/png")
    listed = backend.storage.list(f"users/{user}/outputs/")  # more than one list page
    assert listed == keys
    backend.storage.delete([*keys, _key(user, "outputs", "never-existed.png")])
    assert backend.storage.list(f"users/{user}/") == []
    assert not backend.storage.exists(keys[0])
    if backend.api is not None:
        removes = [json.loads(r.body)["prefixes"] for r in backend.api.requests if r.method == "DELETE"]
        assert [len(names) for names in removes] == [1000, 4]
        lists = [json.loads(r.body) for r in backend.api.requests if "/object/list/" in r.path]
        assert {(body["offset"], body["limit"]) for body in lists} >= {(0, 1000), (1000, 1000)}


def test_delete_prefix_removes_everything_of_one_user(backend: Backend) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    for key in (_key(user, "uploads"), _key(user, "outputs"), _key(other, "outputs")):
        backend.storage.put(key, b"x", "image/png")
    assert backend.storage.delete_prefix(f"users/{user}/") == 2
    assert backend.storage.list(f"users/{user}/") == []
    assert len(backend.storage.list(f"users/{other}/")) == 1


def test_signed_url_serves_exactly_that_object(backend: Backend) -> None:
    key, other = _key(), _key()
    backend.storage.put(key, b"the image", "image/png")
    backend.storage.put(other, b"another", "image/png")
    url = backend.storage.signed_url(key)
    assert backend.fetch(url) == b"the image"
    urls = backend.storage.signed_urls([key, other])
    assert backend.fetch(urls[other]) == b"another"


def test_a_download_url_answers_an_attachment_with_its_file_name(backend: Backend) -> None:
    key = _key()
    backend.storage.put(key, b"the image", "image/webp")
    name = "atelier-a-red-fox-0f8e.webp"
    url = backend.storage.signed_url(key, download=name)
    assert backend.fetch(url) == b"the image"
    if isinstance(backend.storage, LocalStorage):  # the API's /v1/files route answers the header from the token
        assert backend.storage.verify(url[len(FILES_PATH) :]) == (key, name)
        assert backend.storage.verify(backend.storage.signed_url(key)[len(FILES_PATH) :]) == (key, None)
    else:
        response = httpx.get(url)
        assert response.headers["content-disposition"] == f"attachment; filename={name}; filename*=UTF-8''{name};"
        assert "content-disposition" not in httpx.get(backend.storage.signed_url(key)).headers
    with pytest.raises(ValueError, match="download"):
        backend.storage.signed_url(key, download="../evil name.webp")


def test_a_tampered_signed_url_is_refused(backend: Backend) -> None:
    key, other = _key(), _key()
    backend.storage.put(key, b"the image", "image/png")
    backend.storage.put(other, b"secret", "image/png")
    url = backend.storage.signed_url(key)
    forged = url.replace(key, other)
    if forged == url:  # the local token carries the key inside its signed payload: flip a signature byte
        forged = url[:-2] + ("A" if url[-2] != "A" else "B") + url[-1]
    with pytest.raises(Forbidden):
        backend.fetch(forged)


def test_signed_urls_never_point_at_public_paths(backend: Backend) -> None:
    key = _key()
    backend.storage.put(key, b"x", "image/png")
    url = backend.storage.signed_url(key)
    assert "/public/" not in url
    if backend.api is not None:
        assert urlsplit(url).path.startswith(f"/storage/v1/object/sign/{BUCKET}/")
        assert not any("/public/" in r.path for r in backend.api.requests)


@pytest.mark.parametrize("bad", ["../etc/passwd", "/users/x/a.png", "users//a.png", "users/./a.png", "a b.png", ""])
def test_keys_that_could_escape_are_refused_before_any_request(backend: Backend, bad: str) -> None:
    before = len(backend.api.requests) if backend.api else 0
    with pytest.raises(ValueError, match="key"):
        backend.storage.put(bad, b"x", "image/png")
    with pytest.raises(ValueError, match="key"):
        backend.storage.delete([bad])
    assert (len(backend.api.requests) if backend.api else 0) == before


# --- backend-specific behaviour -----------------------------------------------------------------------------------


def test_local_tokens_expire_and_resist_tampering(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage", signed_url_seconds=60)
    key = _key()
    token = storage.signed_url(key)[len(FILES_PATH) :]
    assert storage.verify_token(token) == key
    with pytest.raises(SignedUrlExpired):
        storage.verify_token(token, now=10**12)
    payload, _, signature = token.partition(".")
    for forged in (f"{payload}x.{signature}", f"{payload}.{signature[::-1]}", payload, "", "a.b"):
        with pytest.raises(SignedUrlInvalid):
            storage.verify_token(forged)
    # another deployment's key never validates this one's tokens
    with pytest.raises(SignedUrlInvalid):
        LocalStorage(tmp_path / "elsewhere" / "storage").verify_token(token)


def test_local_signing_key_lives_in_the_data_dir_and_is_reused(tmp_path: Path) -> None:
    first = LocalStorage(tmp_path / "storage")
    token = first.signed_url(_key())[len(FILES_PATH) :]
    second = LocalStorage(tmp_path / "storage")
    assert second.verify_token(token)
    assert (tmp_path / "storage-url.key").stat().st_mode & 0o077 == 0


def test_supabase_requests_carry_the_service_key_and_a_wrong_key_fails_clearly() -> None:
    with fake_storage_api() as api:
        good = SupabaseStorage(api.url, SECRET_KEY, BUCKET)
        good.put(_key(), b"x", "image/png")
        for rec in api.requests:
            headers = {k.lower(): v for k, v in rec.headers.items()}
            assert headers["apikey"] == SECRET_KEY
            assert headers["authorization"] == f"Bearer {SECRET_KEY}"
        bad = SupabaseStorage(api.url, "sb_secret_wrong", BUCKET)
        with pytest.raises(StorageUnavailable):
            bad.put(_key(), b"x", "image/png")
        good.close()
        bad.close()


def test_supabase_unreachable_is_storage_unavailable() -> None:
    with fake_storage_api() as api:
        url = api.url
    storage = SupabaseStorage(url, SECRET_KEY, BUCKET, timeout=2)
    with pytest.raises(StorageUnavailable) as caught:
        storage.put(_key(), b"x", "image/png")
    assert caught.value.status == 503
    storage.close()


def test_build_storage_picks_the_backend_from_settings(tmp_path: Path) -> None:
    local = build_storage(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalStorage)
    assert local.root == (tmp_path / "storage").resolve()
    remote = build_storage(Settings(data_dir=tmp_path, supabase_url="https://p.supabase.co", supabase_secret_key="k"))
    assert isinstance(remote, SupabaseStorage)
    assert remote.bucket == "atelier"
    forced = build_storage(
        Settings(
            data_dir=tmp_path,
            supabase_url="https://p.supabase.co",
            supabase_secret_key="k",
            storage_backend="local",
        )
    )
    assert isinstance(forced, LocalStorage)
    with pytest.raises(ValueError, match="SUPABASE"):
        build_storage(Settings(data_dir=tmp_path, storage_backend="supabase"))


# --- Supabase Storage failures that are not "missing" ------------------------------------------------------------


def test_supabase_only_no_such_key_means_missing_and_a_missing_bucket_is_unavailable() -> None:
    with fake_storage_api() as api:
        present = SupabaseStorage(api.url, SECRET_KEY, BUCKET)
        key = _key()
        present.put(key, b"x", "image/png")
        with pytest.raises(ObjectMissing):
            present.get(_key())
        assert present.exists(key)
        assert not present.exists(_key())
        for storage in (
            SupabaseStorage(api.url, SECRET_KEY, "no-such-bucket"),  # answered {"code": "NoSuchBucket", ...}
            SupabaseStorage(api.url, "sb_secret_wrong", BUCKET),  # a wrong key sees no bucket: the same answer
        ):
            for call in (
                lambda s=storage: s.get(key),
                lambda s=storage: b"".join(s.open(key)),
                lambda s=storage: s.put(_key(), b"x", "image/png"),
                lambda s=storage: s.exists(key),
                lambda s=storage: s.signed_url(key),
            ):
                with pytest.raises(StorageUnavailable) as caught:
                    call()
                assert caught.value.status == 503
                assert caught.value.code == "storage_unavailable"
            storage.close()
        present.close()


def test_supabase_listing_a_missing_bucket_fails_instead_of_reading_as_empty() -> None:
    with fake_storage_api() as api:
        user = uuid.uuid4()
        good = SupabaseStorage(api.url, SECRET_KEY, BUCKET)
        good.put(_key(user), b"x", "image/png")
        assert good.list(f"users/{uuid.uuid4()}/") == []  # the bucket exists: an empty folder is really empty
        good.close()
        missing_bucket = SupabaseStorage(api.url, SECRET_KEY, "no-such-bucket")
        wrong_key = SupabaseStorage(api.url, "sb_secret_wrong", BUCKET)
        for storage in (missing_bucket, wrong_key):
            with pytest.raises(StorageUnavailable):
                storage.list(f"users/{user}/")
            with pytest.raises(StorageUnavailable):
                storage.delete_prefix(f"users/{user}/")
            storage.close()
        assert len(api.keys()) == 1


def test_a_proxy_route_not_found_is_unavailable_not_missing() -> None:
    """A wrong SUPABASE_URL path (or a proxy in front) answers HTTP 404 without Storage's body."""
    with fake_storage_api() as api:
        storage = SupabaseStorage(f"{api.url}/wrong-prefix", SECRET_KEY, BUCKET)
        with pytest.raises(StorageUnavailable):
            storage.get(_key())
        with pytest.raises(StorageUnavailable):
            storage.exists(_key())
        storage.close()


def test_the_fake_answers_errors_in_the_storage_servers_shape() -> None:
    """HTTP 400 with the error's own status as text in the body (supabase/storage's error handler)."""
    with fake_storage_api() as api:
        headers = {"apikey": SECRET_KEY, "Authorization": f"Bearer {SECRET_KEY}"}
        missing = httpx.get(f"{api.url}/storage/v1/object/{BUCKET}/users/x/a.png", headers=headers)
        assert (missing.status_code, missing.json()) == (
            400,
            {"statusCode": "404", "code": "NoSuchKey", "error": "not_found", "message": "Object not found"},
        )
        bucket = httpx.get(f"{api.url}/storage/v1/object/other/users/x/a.png", headers=headers)
        assert (bucket.status_code, bucket.json()) == (
            400,
            {"statusCode": "404", "code": "NoSuchBucket", "error": "Bucket not found", "message": "Bucket not found"},
        )


def test_folders_lists_one_level_of_names(backend: Backend) -> None:
    ada, bob = uuid.uuid4(), uuid.uuid4()
    for key in (_key(ada), _key(ada, "outputs"), _key(bob, "support")):
        backend.storage.put(key, b"x", "image/png")
    assert backend.storage.folders("users/") == sorted([str(ada), str(bob)])
    assert backend.storage.folders(f"users/{ada}/") == ["outputs", "uploads"]
    assert backend.storage.folders(f"users/{uuid.uuid4()}/") == []
