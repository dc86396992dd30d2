"""Rules for accounts."""

from __future__ import annotations

from config.settings import Settings, get_settings
from shared.accounts import repo
from shared.accounts.models import Account
from shared.auth import Principal
from shared.billing.catalogue import load_catalogue
from shared.billing.repo import has_unmatched
from shared.credits.service import grant_signup
from shared.kit.db.database import Connection


def ensure_account(conn: Connection, principal: Principal, *, settings: Settings | None = None) -> tuple[Account, bool]:
    """The caller's account, created from their token's claims the first time they call; returns (account, created).

    A new account gets its signup credits in the same transaction (granted once: keyed on the account id),
    and Polar payments that arrived before it existed (billing inbox `unmatched`) are applied.
    """
    account, created = repo.upsert_from_claims(
        conn,
        {
            "id": principal.user_id,
            "email": principal.email,
            "display_name": principal.name,
            "full_name": principal.full_name,
            "avatar_url": principal.avatar_url,
        },
    )
    if created:
        grant_signup(conn, account.id, at=account.created_at, settings=settings)
        if has_unmatched(conn, account.id):  # paid through Polar before the account existed
            from shared.billing import service as billing  # noqa: PLC0415 - polar-sdk is heavy: only when needed

            catalogue = load_catalogue((settings or get_settings()).products_file)
            billing.apply_unmatched_for(conn, account.id, catalogue=catalogue)
    return account, created
