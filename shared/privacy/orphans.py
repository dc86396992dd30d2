"""The orphan sweep: storage objects under `users/{id}/` whose account no longer exists are deleted.

Objects are only ever written for an existing account, and an erased account never comes back (a tombstone,
or for an under-13 refusal a deleted Auth user and a block), so a folder listed before its account is found
missing can be deleted whole. It catches what erasure could not: a request that wrote an object while its
account was being erased and then crashed, or a post-erasure sweep that failed. Run by `sweep-orphan-objects`
and, for one account, at the end of erasure.
"""

from __future__ import annotations

import logging
from uuid import UUID

from shared.kit.db.database import Database
from shared.media.storage import Storage, user_prefix

log = logging.getLogger("atelier.privacy")

USERS_ROOT = "users/"
BATCH = 500  # folder names checked against `accounts` per query


def _as_uuid(name: str) -> UUID | None:
    try:
        return UUID(name)
    except ValueError:
        return None


def sweep_orphans(db: Database, storage: Storage) -> int:
    """Delete every object under a user folder whose account row does not exist; returns objects deleted."""
    names = storage.folders(USERS_ROOT)
    ids = [found for found in map(_as_uuid, names) if found is not None]
    if len(ids) != len(names):
        log.warning("storage holds %d folders under users/ that are not account ids", len(names) - len(ids))
    deleted = 0
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        with db.transaction() as conn:
            live = {row["id"] for row in conn.execute("select id from accounts where id = any(%s)", (batch,))}
        for user_id in batch:
            if user_id not in live:
                deleted += storage.delete_prefix(user_prefix(user_id))
    if deleted:
        log.warning("orphan sweep deleted %d objects of accounts that no longer exist", deleted)
    return deleted
