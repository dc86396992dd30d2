"""The API over either storage backend: the local folder, or Supabase Storage through a loopback stand-in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from fastapi.testclient import TestClient

from config.settings import Settings
from config.values import value
from functions.api.app import create_app
from shared.kit.db import Database
from shared.media.storage import LocalStorage, Storage, SupabaseStorage, build_storage
from tests.support.fake_storage_api import BUCKET, SECRET_KEY, FakeStorageApi, fake_storage_api
from tests.support.tokens import bearer, hs256


@value
class Fetched:
    status_code: int
    content: bytes
    content_type: str = ""
    disposition: str = ""  # Content-Disposition, where the link names a download file


@dataclass
class MediaApp:
    client: TestClient
    storage: Storage
    db: Database
    api: FakeStorageApi | None

    def fetch(self, url: str) -> Fetched:
        """Follow an image URL without credentials, as an <img> tag would (the API's own URLs via the client)."""
        response = self.client.get(url) if url.startswith("http://testserver/") else httpx.get(url)
        headers = response.headers
        return Fetched(
            response.status_code,
            response.content,
            headers.get("content-type", ""),
            headers.get("content-disposition", ""),
        )

    def fetch_headers(self, url: str) -> dict[str, str]:
        """The headers an image URL answers with (the API's own URLs via the client)."""
        if url.startswith("http://testserver/"):
            return dict(self.client.get(url).headers)
        return dict(httpx.get(url).headers)

    def all_keys(self) -> list[str]:
        return self.storage.list("users/")

    def member(self, email: str) -> User:
        """A signed-in user who finished onboarding (uploading and publishing need it)."""
        who = user(email)
        version = self.client.get("/v1/policies/current").json()["version"]
        body = {"age_confirmed": True, "accepted_policy_version": version}
        response = self.client.post("/v1/me/onboarding", headers=who.headers, json=body)
        assert response.status_code == 200, response.text
        return who


@contextmanager
def media_app(
    settings: Settings, db: Database, backend: str, *, raise_server_exceptions: bool = True
) -> Iterator[MediaApp]:
    if backend == "local":
        storage = build_storage(settings)
        assert isinstance(storage, LocalStorage)
        with TestClient(create_app(settings, db, storage), raise_server_exceptions=raise_server_exceptions) as client:
            yield MediaApp(client, storage, db, None)
        return
    with fake_storage_api() as api:
        remote = SupabaseStorage(api.url, SECRET_KEY, BUCKET, signed_url_seconds=settings.signed_url_seconds)
        try:
            with TestClient(
                create_app(settings, db, remote), raise_server_exceptions=raise_server_exceptions
            ) as client:
                yield MediaApp(client, remote, db, api)
        finally:
            remote.close()


@value
class User:
    id: uuid.UUID
    email: str
    headers: dict[str, str]


def user(email: str) -> User:
    uid = uuid.uuid4()
    return User(uid, email, bearer(hs256(user_id=uid, email=email)))
