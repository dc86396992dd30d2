"""A version's manifest (JSON Lines in storage) and the run lease that serialises its writers.

The manifest is rendered from the link table (items stored and not withdrawn), never edited in place. Every
change to a version's items bumps its `revision`; a writer holds the version's lease, renders, uploads, and
releases only if the revision it rendered is still the latest, else renders again. A run that finds the lease
taken leaves the rewrite to the holder, which will see the newer revision when it tries to release.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.media.storage import Storage

LEASE = timedelta(minutes=30)  # longer than a task may run
MANIFEST_CONTENT_TYPE = "application/x-ndjson"
ITEM_CONTENT_TYPE = "image/png"  # items are re-encoded to PNG (shared/dataset/anonymise.py)
# Every field of a manifest line, and nothing else: no account, email, prompt, seed, address or exact time.
FIELDS: tuple[str, ...] = ("item_id", "file", "model", "task", "aspect_ratio", "created_month")


def prefix(version: str) -> str:
    return f"datasets/{version}/"


def manifest_key(version: str) -> str:
    return f"{prefix(version)}manifest.jsonl"


def item_key(version: str, item_id: str, extension: str = "png") -> str:
    return f"{prefix(version)}items/{item_id}.{extension}"


def line(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "item_id": row["item_id"],
        "file": f"items/{row['item_id']}.png",
        "model": row["model"],
        "task": row["task"],
        "aspect_ratio": row["aspect_ratio"],
        "created_month": row["created_month"],
    }


def render(conn: Connection, version: str) -> bytes:
    rows = conn.execute(
        """select item_id, model, task, aspect_ratio, created_month from improvement_dataset_items
            where version = %s and stored and withdrawn_revision is null order by item_id""",
        (version,),
    ).fetchall()
    return "".join(json.dumps(line(row), sort_keys=True) + "\n" for row in rows).encode()


def claim(db: Database, version: str, *, now: datetime) -> UUID | None:
    """The version's lease, unless another run holds it."""
    token = uuid.uuid4()
    with db.transaction() as conn:
        row = conn.execute(
            """update improvement_datasets set claim = %(claim)s, lease_until = %(lease)s
                where version = %(version)s and (lease_until is null or lease_until < %(now)s)
            returning version""",
            {"claim": token, "lease": now + LEASE, "version": version, "now": now},
        ).fetchone()
    return token if row else None


def release(db: Database, version: str, token: UUID) -> None:
    with db.transaction() as conn:
        conn.execute(
            "update improvement_datasets set claim = null, lease_until = null where version = %s and claim = %s",
            (version, token),
        )


def write_and_release(db: Database, storage: Storage, version: str, token: UUID) -> bool:
    """Render and upload until the upload shows the latest revision, then release; False if the lease was lost."""
    while True:
        with db.transaction() as conn:
            row = conn.execute(
                "select revision from improvement_datasets where version = %s and claim = %s", (version, token)
            ).fetchone()
            if row is None:
                return False
            revision = row["revision"]
            body = render(conn, version)
        storage.put(manifest_key(version), body, MANIFEST_CONTENT_TYPE)
        with db.transaction() as conn:
            done = conn.execute(
                """update improvement_datasets set written_revision = %(rev)s, claim = null, lease_until = null
                    where version = %(version)s and claim = %(claim)s and revision = %(rev)s returning version""",
                {"rev": revision, "version": version, "claim": token},
            ).fetchone()
        if done is not None:
            return True


def flush(db: Database, storage: Storage, *, now: datetime) -> list[str]:
    """Rewrite the manifest of every built version whose items changed since; returns the versions written."""
    with db.transaction() as conn:
        stale = [
            row["version"]
            for row in conn.execute(
                """select version from improvement_datasets
                    where built_at is not null and revision > written_revision order by version"""
            ).fetchall()
        ]
    written = []
    for version in stale:
        token = claim(db, version, now=now)
        if token is not None and write_and_release(db, storage, version, token):
            written.append(version)
    return written
