"""Data exports (access and portability): the request, the build task and the expiry task.

A request is a row (`exports`). `build_exports` claims pending rows with FOR UPDATE SKIP LOCKED under a
lease, writes the archive to a temporary file (shared/privacy/archive.py), uploads it to
`users/{user_id}/exports/{id}-{attempt}.zip` and marks the row ready with its expiry. Two overlapping runs
never build the same export; a run that crashes leaves a lapsed lease, and the next run builds it again
(each attempt under its own key, so a late, superseded builder can never overwrite the winner's archive).
`expire_exports` deletes the archive once the link has expired and marks the row expired.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from config.values import value
from shared.access.locks import UNDERWAY_SQL
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.kit.errors import AtelierError, NotFound
from shared.kit.pagination import Cursor, Page, page_of
from shared.media.storage import Storage
from shared.notify import notifications
from shared.notify.outbox import enqueue
from shared.privacy import requests
from shared.privacy.archive import SCHEMA_VERSION, write_archive

log = logging.getLogger("atelier.privacy.exports")

BUILD_LEASE = timedelta(minutes=30)  # longer than a task may run (Modal timeout 900 s)
EXPIRE_LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 3  # then the export is failed and the user may ask again
EXPIRE_BATCH = 500
CONTENT_TYPE = "application/zip"
HASH_CHUNK = 1024 * 1024

_COLUMNS = (
    "id, user_id, status, requested_at, attempts, finished_at, storage_key, bytes, sha256, expires_at, request_id"
)


@value
class Export:
    id: UUID
    user_id: UUID
    status: str  # pending | building | ready | failed | expired
    requested_at: datetime
    attempts: int
    finished_at: datetime | None
    storage_key: str | None
    bytes: int | None
    sha256: str | None
    expires_at: datetime | None
    request_id: UUID | None  # its entry in the rights register

    def available(self, now: datetime) -> bool:
        """Ready and not yet past its expiry (the expiry task may not have run yet)."""
        return self.status == "ready" and self.expires_at is not None and now < self.expires_at


def _export(row: dict[str, Any]) -> Export:
    return Export(**row)


def archive_key(user_id: UUID, export_id: UUID, attempt: int) -> str:
    return f"users/{user_id}/exports/{export_id}-{attempt}.zip"


# ---------------------------------------------------------------------------------------------------------------
# Requests (the API)


def request_export(conn: Connection, user_id: UUID, *, now: datetime) -> tuple[Export, bool]:
    """The user's open export, or a new pending one; True when it was created now.

    At most one is open per account (a partial unique index), so concurrent requests agree on one row.
    A new one is registered as a rights request (due one month later), completed when the archive is ready.
    """
    for _ in range(3):
        row = conn.execute(
            f"""insert into exports (id, user_id) values (%s, %s)
                on conflict (user_id) where status in ('pending', 'building') do nothing
                returning {_COLUMNS}""",
            (uuid4(), user_id),
        ).fetchone()
        if row is not None:
            entry = requests.open_request(conn, user_id, "export", now=now)
            row = conn.execute(
                f"update exports set request_id = %s where id = %s returning {_COLUMNS}", (entry.id, row["id"])
            ).fetchone()
            assert row is not None  # noqa: S101 - inserted just above, in this transaction
            return _export(row), True
        row = conn.execute(
            f"select {_COLUMNS} from exports where user_id = %s and status in ('pending', 'building')",
            (user_id,),
        ).fetchone()
        if row is not None:
            return _export(row), False
        # The open one finished between the two statements; try the insert again.
    raise RuntimeError("could not open or find an export request")


def get_owned(conn: Connection, user_id: UUID, export_id: UUID) -> Export:
    """One of the caller's exports; someone else's is `NotFound`, exactly like a missing one."""
    row = conn.execute(
        f"select {_COLUMNS} from exports where id = %s and user_id = %s", (export_id, user_id)
    ).fetchone()
    if row is None:
        raise NotFound("No such export.")
    return _export(row)


def list_owned(conn: Connection, user_id: UUID, *, cursor: str | None, limit: int) -> Page[Export]:
    """The caller's exports, newest first, a page at a time (like every list)."""
    after = Cursor.decode(cursor)
    rows = conn.execute(
        f"""select {_COLUMNS} from exports
             where user_id = %(user_id)s
               and (%(c_at)s::timestamptz is null or (requested_at, id) < (%(c_at)s, %(c_id)s::uuid))
             order by requested_at desc, id desc
             limit %(limit)s""",
        {
            "user_id": user_id,
            "c_at": after.created_at if after else None,
            "c_id": after.id if after else None,
            "limit": limit + 1,
        },
    ).fetchall()
    return page_of([_export(row) for row in rows], limit, key=lambda e: Cursor(e.requested_at, e.id))


# ---------------------------------------------------------------------------------------------------------------
# The build task


def claim_next(conn: Connection, now: datetime, ids: list[UUID] | None, skip: list[UUID]) -> Export | None:
    """Take one export to build: pending, or building under a lease that lapsed (its builder died); never one of an
    account whose erasure is under way (it waits, and goes with the account's rows)."""
    only = "and id = any(%(ids)s::uuid[])" if ids is not None else ""
    row = conn.execute(
        f"""update exports set status = 'building', attempts = attempts + 1, lease_until = %(lease)s,
                   started_at = coalesce(started_at, %(now)s)
             where id = (select id from exports
                          where (status = 'pending' or (status = 'building' and lease_until <= %(now)s))
                            and not id = any(%(skip)s::uuid[]) {only}
                            and not exists (select 1 from account_erasures e
                                             where e.user_id = exports.user_id and {UNDERWAY_SQL})
                          order by requested_at, id
                          limit 1
                          for update skip locked)
            returning {_COLUMNS}""",
        {"now": now, "lease": now + BUILD_LEASE, "ids": ids, "skip": skip},
    ).fetchone()
    return _export(row) if row is not None else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _complete(db: Database, claim: Export, *, key: str, size: int, sha256: str, now: datetime, days: int) -> bool:
    """Mark the export ready, only if this attempt still holds it (fenced by the attempt number) and the account's
    erasure has not started meanwhile (the caller then deletes the archive it uploaded)."""
    with db.transaction() as conn:
        cur = conn.execute(
            f"""update exports set status = 'ready', storage_key = %s, bytes = %s, sha256 = %s, schema_version = %s,
                      finished_at = %s, expires_at = %s, lease_until = null, error = null
                where id = %s and status = 'building' and attempts = %s
                  and not exists (select 1 from account_erasures e
                                   where e.user_id = exports.user_id and {UNDERWAY_SQL})""",
            (key, size, sha256, SCHEMA_VERSION, now, now + timedelta(days=days), claim.id, claim.attempts),
        )
        if cur.rowcount != 1:
            return False
        enqueue(conn, "export_ready", user_id=claim.user_id, export_id=claim.id)
        # The same news in the app (Notices), for a person who does not wait for the email.
        notifications.post(
            conn,
            claim.user_id,
            kind="export_ready",
            title="Your data export is ready",
            body=f"Download it from Privacy until {now + timedelta(days=days):%Y-%m-%d}; the link stops working then.",
        )
        if claim.request_id is not None:
            # An operator may have closed it already; the archive is delivered either way.
            with contextlib.suppress(requests.RequestClosed):
                requests.complete_request(conn, claim.request_id, now=now)
        return True


def _give_back(db: Database, storage: Storage, claim: Export, error: Exception, now: datetime) -> None:
    """After a failed attempt: pending again for the next run, or failed (objects removed) after MAX_ATTEMPTS."""
    failed = claim.attempts >= MAX_ATTEMPTS
    with db.transaction() as conn:
        conn.execute(
            """update exports set status = %s, lease_until = null, error = %s,
                      finished_at = case when %s then %s::timestamptz end
                where id = %s and status = 'building' and attempts = %s""",
            ("failed" if failed else "pending", type(error).__name__, failed, now, claim.id, claim.attempts),
        )
    if failed:  # an attempt may have uploaded before dying; leave nothing behind
        try:
            storage.delete([archive_key(claim.user_id, claim.id, n) for n in range(1, claim.attempts + 1)])
        except AtelierError:  # storage is what failed; the user's prefix goes at erasure at the latest
            log.warning("could not delete a failed export's attempts", extra={"export_id": str(claim.id)})


def build_one(db: Database, storage: Storage, claim: Export, *, now: datetime, days: int) -> bool:
    """Write, upload and complete one claimed export; False when another attempt superseded this one."""
    key = archive_key(claim.user_id, claim.id, claim.attempts)
    with tempfile.TemporaryDirectory(prefix="atelier-export-") as folder:
        path = Path(folder) / "export.zip"
        write_archive(db, storage, claim.user_id, path, generated_at=now)
        size, sha256 = path.stat().st_size, _sha256(path)
        storage.put_file(key, path, CONTENT_TYPE)
    if _complete(db, claim, key=key, size=size, sha256=sha256, now=now, days=days):
        log.info("export ready", extra={"export_id": str(claim.id), "bytes": size})
        return True
    storage.delete([key])  # lease lost (or the account was erased meanwhile): this copy is nobody's
    log.warning("export attempt superseded", extra={"export_id": str(claim.id), "attempt": claim.attempts})
    return False


def build_exports(
    db: Database,
    storage: Storage,
    *,
    now: datetime,
    days: int,
    limit: int = 20,
    ids: list[UUID] | None = None,
) -> int:
    """Build up to `limit` pending exports, one at a time; returns how many became ready.

    A failed attempt is recorded (exception type only) and given back for the next run; the run goes on
    with the others and raises the first error at the end, so the task run is recorded as failed.
    """
    built, tried = 0, list[UUID]()
    first_error: Exception | None = None
    while len(tried) < limit:
        with db.transaction() as conn:
            claim = claim_next(conn, now, ids, tried)
        if claim is None:
            break
        tried.append(claim.id)
        try:
            built += build_one(db, storage, claim, now=now, days=days)
        except Exception as exc:
            log.exception("export build failed", extra={"export_id": str(claim.id), "attempt": claim.attempts})
            _give_back(db, storage, claim, exc, now)
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return built


# ---------------------------------------------------------------------------------------------------------------
# The expiry task


def expire_exports(db: Database, storage: Storage, *, now: datetime, limit: int = 5000) -> int:
    """Delete the archives of exports past their expiry and mark them expired; returns how many.

    Rows are claimed under a lease (FOR UPDATE SKIP LOCKED), the objects deleted outside any transaction,
    then the rows marked; a crash between the two leaves a lapsed lease and the next run deletes again
    (deleting a missing object is no error).
    """
    expired = 0
    while expired < limit:
        with db.transaction() as conn:
            rows = conn.execute(
                """update exports set lease_until = %(lease)s
                    where id in (select id from exports
                                  where status = 'ready' and expires_at <= %(now)s
                                    and (lease_until is null or lease_until <= %(now)s)
                                  order by expires_at, id
                                  limit %(limit)s
                                  for update skip locked)
                returning id, user_id, attempts, storage_key""",
                {"now": now, "lease": now + EXPIRE_LEASE, "limit": min(EXPIRE_BATCH, limit - expired)},
            ).fetchall()
        if not rows:
            break
        # Every attempt's key, not only the winner's: an attempt that crashed after uploading left its copy.
        keys = {archive_key(row["user_id"], row["id"], n) for row in rows for n in range(1, row["attempts"] + 1)}
        storage.delete(sorted(keys | {row["storage_key"] for row in rows}))
        with db.transaction() as conn:
            cur = conn.execute(
                """update exports set status = 'expired', expired_at = %s, lease_until = null
                    where id = any(%s::uuid[]) and status = 'ready'""",
                (now, [row["id"] for row in rows]),
            )
            expired += cur.rowcount
    if expired:
        log.info("exports expired", extra={"count": expired})
    return expired
