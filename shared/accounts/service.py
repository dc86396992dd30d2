"""Rules for accounts."""

from __future__ import annotations

from shared.accounts import repo
from shared.accounts.models import Account
from shared.auth import Principal
from shared.db.database import Connection


def ensure_account(conn: Connection, principal: Principal) -> tuple[Account, bool]:
    """The caller's account, created from their token's claims the first time they call; returns (account, created)."""
    return repo.upsert_from_claims(
        conn,
        {
            "id": principal.user_id,
            "email": principal.email,
            "display_name": principal.name,
            "full_name": principal.full_name,
            "avatar_url": principal.avatar_url,
        },
    )
