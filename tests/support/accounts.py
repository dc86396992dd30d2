"""Accounts for tests that exercise a domain below the API (no signup grant: an empty balance)."""

from __future__ import annotations

import uuid

from shared.kit.db import Database


def make_account(db: Database, email: str | None = None) -> uuid.UUID:
    user_id = uuid.uuid4()
    with db.transaction() as conn:
        conn.execute("insert into accounts (id, email) values (%s, %s)", (user_id, email))
    return user_id
