"""Build a dataset version, purge what may no longer be used, and read versions back.

`build` adds every eligible image (shared/dataset/eligibility.py) to a new version under the version's lease:
per image a link row first (checked eligible in that transaction), then the anonymised object, then the row is
marked stored. `purge` withdraws every item whose image is no longer eligible, in every version: the row is
marked withdrawn (it leaves the manifest), the object is deleted, the manifest rewritten, and the row deleted
last. `purge_subject` does the same for one account (erasure). All are idempotent and safe to run at once: the
lease serialises writers of one version, and every step can be repeated.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from config.values import value
from shared.dataset import keys
from shared.dataset.eligibility import Candidate, Default, eligible
from shared.dataset.manifest import ITEM_CONTENT_TYPE, claim, flush, item_key, release, render, write_and_release
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.kit.errors import Conflict, NotFound, Unprocessable
from shared.media.storage import ObjectMissing, Storage

if TYPE_CHECKING:  # c2pa and Pillow load only where images are built, not where erasure purges
    from shared.provenance.marks import Marker

log = logging.getLogger("atelier.dataset")

VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DELETE_BATCH = 1000  # Supabase Storage removes at most this many names per call


class InvalidDatasetVersion(Unprocessable):
    """A dataset version is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."""

    code = "invalid_dataset_version"


class DatasetVersionNotFound(NotFound):
    """No dataset version has this name."""

    code = "dataset_version_not_found"


class DatasetBusy(Conflict):
    """Another run holds this dataset version; the withdrawal finishes when it ends (the task retries)."""

    code = "dataset_busy"


@value
class VersionInfo:
    version: str
    created_at: datetime
    built_at: datetime | None
    items: int


def check_version(version: str) -> str:
    if not VERSION.fullmatch(version):
        raise InvalidDatasetVersion()
    return version


def default_version(now: datetime) -> str:
    """One version per day: the scheduled build and `deploy.py dataset build` on the same day agree on it."""
    return now.strftime("%Y-%m-%d")


def build(
    db: Database, storage: Storage, marker: Marker, *, key: bytes, version: str, now: datetime, default: Default
) -> int:
    """Build `version` once; returns the items added (0 when it is built already or another run is on it)."""
    check_version(version)
    with db.transaction() as conn:
        conn.execute("insert into improvement_datasets (version) values (%s) on conflict do nothing", (version,))
        row = conn.execute("select built_at from improvement_datasets where version = %s", (version,)).fetchone()
    if row is None or row["built_at"] is not None:
        return 0
    token = claim(db, version, now=now)
    if token is None:
        return 0
    try:
        with db.transaction() as conn:
            candidates = eligible(conn, default=default)
            have = {
                r["media_ref"]
                for r in conn.execute(
                    "select media_ref from improvement_dataset_items where version = %s and stored", (version,)
                ).fetchall()
            }
        added = sum(
            _add(db, storage, marker, candidate, key=key, version=version, default=default)
            for candidate in candidates
            if keys.media_ref(key, candidate.media_id) not in have
        )
        with db.transaction() as conn:
            conn.execute(
                "update improvement_datasets set built_at = %s where version = %s and claim = %s",
                (now, version, token),
            )
        purge(db, storage, key=key, now=now, default=default)  # whatever lost eligibility while this ran
        if not write_and_release(db, storage, version, token):
            log.warning("dataset build lost its lease", extra={"version": version})
    except BaseException:
        release(db, version, token)
        raise
    log.info("dataset version built", extra={"version": version, "items": added})
    return added


def _add(
    db: Database, storage: Storage, marker: Marker, candidate: Candidate, *, key: bytes, version: str, default: Default
) -> int:
    from shared.dataset.anonymise import anonymised  # noqa: PLC0415 - see the TYPE_CHECKING import

    try:
        data = storage.get(candidate.storage_key)
    except ObjectMissing:  # deleted since it was selected
        return 0
    image = anonymised(data, marker, task=candidate.task, model=candidate.model)
    item = keys.item_id(key, version, candidate.media_id)
    with db.transaction() as conn:
        if not eligible(conn, default=default, only=candidate.media_id):
            return 0
        conn.execute(
            """insert into improvement_dataset_items
                   (version, item_id, subject_ref, media_ref, model, task, aspect_ratio, created_month)
               values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing""",
            (
                version,
                item,
                keys.subject_ref(key, candidate.user_id),
                keys.media_ref(key, candidate.media_id),
                candidate.model,
                candidate.task,
                candidate.aspect_ratio,
                candidate.created_month,
            ),
        )
    object_key = item_key(version, item)
    storage.put(object_key, image, ITEM_CONTENT_TYPE)
    with db.transaction() as conn:
        stored = conn.execute(
            """update improvement_dataset_items set stored = true
                where version = %s and item_id = %s and withdrawn_revision is null""",
            (version, item),
        ).rowcount
        if stored:
            _bump(conn, version)
    if not stored:  # withdrawn while it was being written
        storage.delete([object_key])
    return 1 if stored else 0


def _bump(conn: Connection, version: str) -> int:
    row = conn.execute(
        "update improvement_datasets set revision = revision + 1 where version = %s returning revision", (version,)
    ).fetchone()
    return int(row["revision"]) if row else 0


def purge(db: Database, storage: Storage, *, key: bytes, now: datetime, default: Default) -> int:
    """Withdraw every item, in every version, whose image may no longer be used; returns how many."""
    with db.transaction() as conn:
        allowed = {keys.media_ref(key, c.media_id) for c in eligible(conn, default=default)}
        rows = conn.execute(
            "select version, item_id, media_ref from improvement_dataset_items where withdrawn_revision is null"
        ).fetchall()
    stale = [(row["version"], row["item_id"]) for row in rows if row["media_ref"] not in allowed]
    return _withdraw(db, storage, stale, now=now)


def purge_subject(db: Database, storage: Storage, *, key: bytes, user_id: UUID, now: datetime) -> int:
    """Withdraw every item of one account (erasure) and delete its links; DatasetBusy if a build holds one."""
    ref = keys.subject_ref(key, user_id)
    with db.transaction() as conn:
        rows = conn.execute(
            """select version, item_id from improvement_dataset_items
                where subject_ref = %s and withdrawn_revision is null""",
            (ref,),
        ).fetchall()
    count = _withdraw(db, storage, [(row["version"], row["item_id"]) for row in rows], now=now)
    with db.transaction() as conn:
        left = conn.execute("select 1 from improvement_dataset_items where subject_ref = %s limit 1", (ref,)).fetchone()
    if left is not None:
        raise DatasetBusy()
    return count


def _withdraw(db: Database, storage: Storage, items: list[tuple[str, str]], *, now: datetime) -> int:
    by_version: dict[str, list[str]] = defaultdict(list)
    for version, item in items:
        by_version[version].append(item)
    withdrawn = 0
    with db.transaction() as conn:
        for version, ids in sorted(by_version.items()):
            revision = _bump(conn, version)
            withdrawn += conn.execute(
                """update improvement_dataset_items set withdrawn_revision = %s
                    where version = %s and item_id = any(%s) and withdrawn_revision is null""",
                (revision, version, ids),
            ).rowcount
        # Withdrawn earlier by a run that stopped before the end: finished here too.
        pending = conn.execute(
            "select version, item_id from improvement_dataset_items where withdrawn_revision is not null"
        ).fetchall()
    objects = [item_key(row["version"], row["item_id"]) for row in pending]
    for start in range(0, len(objects), DELETE_BATCH):
        storage.delete(objects[start : start + DELETE_BATCH])
    flush(db, storage, now=now)
    with db.transaction() as conn:
        conn.execute(
            """delete from improvement_dataset_items i using improvement_datasets d
                where i.version = d.version and i.withdrawn_revision is not null
                  and d.written_revision >= i.withdrawn_revision"""
        )
    if withdrawn:
        log.info("dataset items withdrawn", extra={"items": withdrawn})
    return withdrawn


def list_versions(conn: Connection) -> list[VersionInfo]:
    rows = conn.execute(
        """select d.version, d.created_at, d.built_at,
                  count(i.item_id) filter (where i.stored and i.withdrawn_revision is null) as items
             from improvement_datasets d left join improvement_dataset_items i on i.version = d.version
            group by d.version order by d.version"""
    ).fetchall()
    return [VersionInfo(r["version"], r["created_at"], r["built_at"], int(r["items"])) for r in rows]


def export_version(db: Database, storage: Storage, version: str, folder: Path) -> int:
    """Write a built version to `folder` (manifest.jsonl and items/) for a training job; returns the items."""
    check_version(version)
    with db.transaction() as conn:
        row = conn.execute("select built_at from improvement_datasets where version = %s", (version,)).fetchone()
        if row is None or row["built_at"] is None:
            raise DatasetVersionNotFound()
        body = render(conn, version)
    (folder / "items").mkdir(parents=True, exist_ok=True)
    kept: list[str] = []
    for text in body.decode().splitlines():
        item = str(json.loads(text)["item_id"])
        try:
            data = storage.get(item_key(version, item))
        except ObjectMissing:  # withdrawn since the manifest was read
            continue
        (folder / "items" / f"{item}.png").write_bytes(data)
        kept.append(text)
    (folder / "manifest.jsonl").write_text("".join(f"{text}\n" for text in kept))
    return len(kept)
