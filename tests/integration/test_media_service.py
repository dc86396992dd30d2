"""The service calls the jobs work uses: store_output, get_owned, load_bytes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from config.settings import Settings
from shared.kit.db import Database
from shared.kit.errors import NotFound
from shared.media import service
from shared.media.models import MediaItem
from shared.media.storage import LocalStorage
from tests.support import images
from tests.support.jobs import job_row


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(settings.storage_dir)


@pytest.fixture
def owner(db: Database) -> uuid.UUID:
    uid = uuid.uuid4()
    with db.transaction() as conn:
        conn.execute("insert into accounts (id, email) values (%s, 'ada@example.com')", (uid,))
    return uid


def _store(db: Database, storage: LocalStorage, owner: uuid.UUID, data: bytes) -> MediaItem:
    with db.transaction() as conn:
        return service.store_output(
            conn,
            storage,
            user_id=owner,
            job_id=job_row(conn, owner),
            data=data,
            content_type="image/png",
            width=16,
            height=16,
            task="text-to-image",
            model="flux-schnell",
            prompt="a fox",
        )


def test_store_output_then_get_owned_and_load_bytes(db: Database, storage: LocalStorage, owner: uuid.UUID) -> None:
    data = images.plain("PNG")
    item = _store(db, storage, owner, data)
    assert item.kind == "output"
    assert item.storage_key == f"users/{owner}/outputs/{item.id}.png"
    assert item.bytes == len(data)
    with db.transaction() as conn:
        found = service.get_owned(conn, owner, item.id, kinds=("output",))
        assert found == item
        with pytest.raises(NotFound):
            service.get_owned(conn, owner, item.id, kinds=("upload", "mask"))
        with pytest.raises(NotFound):
            service.get_owned(conn, uuid.uuid4(), item.id)
    assert service.load_bytes(storage, found) == data


def test_store_output_deletes_the_object_when_the_row_fails(
    db: Database, storage: LocalStorage, owner: uuid.UUID
) -> None:
    with db.transaction() as conn:
        conn.execute(
            "create function refuse_media() returns trigger language plpgsql as $$ begin raise exception 'no'; end; $$"
        )
        conn.execute("create trigger media_refused before insert on media for each row execute function refuse_media()")
    with pytest.raises(psycopg.errors.RaiseException):
        _store(db, storage, owner, images.plain("PNG"))
    assert storage.list("users/") == []


def test_get_owned_hides_trashed_items(db: Database, storage: LocalStorage, owner: uuid.UUID) -> None:
    item = _store(db, storage, owner, images.plain("PNG"))
    with db.transaction() as conn:
        service.trash(conn, owner, item.id, now=datetime.now(UTC), trash_days=30)
    with db.transaction() as conn, pytest.raises(NotFound):
        service.get_owned(conn, owner, item.id)
