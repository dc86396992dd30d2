"""Accounts whose Supabase Auth user was deleted (in the dashboard, by Supabase) are erased here too.

The `sync-accounts` task pages through Supabase Auth's admin user list; every account that existed before the
listing began and is not in it is checked once more on its own (`GET /admin/users/{id}`, so a user deleted
while the pages were read cannot shift another out of view), and only Supabase Auth's own "user not found"
hands it to erasure, the same path as `DELETE /v1/me`, with no grace period. Nothing is erased when the
listing fails, comes back empty while accounts exist, or shares no user with our accounts (a wrong project).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol
from uuid import UUID

from shared.kit.db import Database
from shared.privacy import erasure

log = logging.getLogger("atelier.auth_sync")


class AuthDirectory(Protocol):
    """What the sync needs from Supabase Auth's admin API (shared/accounts/auth_admin.SupabaseAuthAdmin)."""

    @property
    def configured(self) -> bool: ...

    def user_ids(self) -> Iterable[UUID]: ...

    def user_exists(self, user_id: UUID) -> bool: ...


class AuthListingUntrusted(Exception):
    """The Auth user list cannot be right for these accounts; nothing was erased."""


def _account_ids(db: Database) -> set[UUID]:
    with db.transaction() as conn:
        return {row["id"] for row in conn.execute("select id from accounts").fetchall()}


def sync_accounts(db: Database, directory: AuthDirectory, *, now: datetime) -> int:
    """Hand accounts whose Auth user no longer exists to erasure at once; returns how many were handed over."""
    if not directory.configured:
        log.info("sync-accounts skipped: Supabase Auth admin is not configured")
        return 0
    accounts = _account_ids(db)  # read before the listing: each of these has had its Auth user for a while
    if not accounts:
        return 0
    listed = set(directory.user_ids())
    if not listed:
        raise AuthListingUntrusted(f"Supabase Auth listed no users while {len(accounts)} accounts exist")
    if not listed & accounts:
        raise AuthListingUntrusted("Supabase Auth listed none of our accounts' users (another project?)")
    handed = 0
    for user_id in sorted(accounts - listed):
        if directory.user_exists(user_id):
            continue
        with db.transaction() as conn:
            if conn.execute("select 1 from accounts where id = %s for update", (user_id,)).fetchone() is None:
                continue  # erased meanwhile
            if erasure.pending(conn, user_id) is None:
                erasure.request_erasure(conn, user_id, now=now, grace_days=0, by="auth_sync")
            else:
                erasure.expedite(conn, user_id, now=now)
        handed += 1
    if handed:
        log.warning("accounts handed to erasure: their Supabase Auth users are gone", extra={"accounts": handed})
    return handed
