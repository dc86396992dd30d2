"""Rules for accounts."""

from __future__ import annotations

from dataclasses import replace

from config.settings import Settings, get_settings
from shared.access import standing as standings
from shared.access.standing import Standing
from shared.accounts import repo
from shared.accounts.models import Account
from shared.auth import Principal
from shared.billing.catalogue import load_catalogue
from shared.billing.repo import has_unmatched
from shared.credits.service import grant_signup
from shared.kit.db.database import Connection


def _claims(principal: Principal) -> dict[str, object]:
    return {
        "id": principal.user_id,
        "email": principal.email,
        "display_name": principal.name,
        "full_name": principal.full_name,
        "avatar_url": principal.avatar_url,
    }


def _welcome(conn: Connection, account: Account, settings: Settings | None) -> None:
    """A new account's signup credits (granted once: keyed on the account id), and the Polar payments that arrived
    before it existed (billing inbox `unmatched`)."""
    grant_signup(conn, account.id, at=account.created_at, settings=settings)
    if has_unmatched(conn, account.id):  # paid through Polar before the account existed
        from shared.billing import service as billing  # noqa: PLC0415 - polar-sdk is heavy: only when needed

        catalogue = load_catalogue((settings or get_settings()).products_file)
        billing.apply_unmatched_for(conn, account.id, catalogue=catalogue)


def ensure_account(conn: Connection, principal: Principal, *, settings: Settings | None = None) -> tuple[Account, bool]:
    """The caller's account, created from their token's claims the first time they call; returns (account, created).

    A new account gets its signup credits in the same transaction (granted once: keyed on the account id),
    and Polar payments that arrived before it existed (billing inbox `unmatched`) are applied.
    """
    account, created = repo.upsert_from_claims(conn, _claims(principal))
    if created:
        _welcome(conn, account, settings)
    return account, created


def sign_in(
    conn: Connection, principal: Principal, *, settings: Settings, device_id: str | None = None
) -> tuple[Standing, bool]:
    """`ensure_account` for the API's caller: the account with its standing (shared/access/standing.py); returns
    (standing, created).

    The standing is read first, the row locked FOR KEY SHARE, and the account upserted only when it is missing, its
    activity is due a refresh (hourly) or its email changed. The upsert locks the row it conflicts with even when
    it changes nothing, so upserting on every request made every request of one account wait for the one before it
    to commit. KEY SHARE is the lock the security log row's foreign key takes anyway: requests of one account share
    it, while a writer that locks the row FOR UPDATE (onboarding, an under-13 refusal, the Auth sync) or deletes it
    (erasure's last step) is waited for, and the read then sees the row as that writer left it: a deleted row reads
    as missing, the upsert re-creates it and the caller refuses the erased account (`locks.check_not_erased`), as
    when the upsert came first. `device_id`: the request's device, for the standing's `device_link_due`."""
    standing = standings.read(conn, principal.user_id, settings=settings, key_share=True, device_id=device_id)
    claims = _claims(principal)
    if standing is not None and not standing.stale and standing.account.email == claims["email"]:
        return standing, False
    upserted, created = repo.upsert_claims(conn, claims)
    if standing is not None and not created:  # refreshed (or refreshed meanwhile by a concurrent request)
        return (replace(standing, account=upserted, stale=False) if upserted is not None else standing), False
    if created and upserted is not None:
        _welcome(conn, upserted, settings)
    standing = standings.read(conn, principal.user_id, settings=settings, key_share=True, device_id=device_id)
    if standing is None:  # the upsert above proves the row exists; this would be a bug in the SQL
        raise RuntimeError("account vanished during upsert")
    return standing, created
