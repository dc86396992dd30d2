"""The dataset tasks' entry points, built from settings (the scheduled tasks, deploy.py and erasure call these)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from config.settings import Settings
from shared.dataset import service
from shared.dataset.keys import dataset_key
from shared.kit.db import Database
from shared.media.storage import Storage


def build_now(db: Database, storage: Storage, settings: Settings, *, now: datetime, version: str | None = None) -> int:
    from shared.provenance.marks import Marker  # noqa: PLC0415 - c2pa loads only where images are built

    return service.build(
        db,
        storage,
        Marker.from_settings(settings),
        key=dataset_key(settings),
        version=version or service.default_version(now),
        now=now,
        default=settings.improvement_default,
    )


def purge_now(db: Database, storage: Storage, settings: Settings, *, now: datetime) -> int:
    return service.purge(db, storage, key=dataset_key(settings), now=now, default=settings.improvement_default)


def purge_account(db: Database, storage: Storage, settings: Settings, user_id: UUID, *, now: datetime) -> int:
    return service.purge_subject(db, storage, key=dataset_key(settings), user_id=user_id, now=now)
