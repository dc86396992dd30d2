"""Onboarding: the age check and the first policy acceptance; under 13 the account is erased at once.

Only the fact that the age check passed is stored (how and when), never the birth date. An under-13
account's storage objects are deleted, then its row in one transaction (every user-linked table cascades),
then the Supabase Auth user, and a salted hash of the user id blocks the same account for a short time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from config.settings import Settings
from shared.accounts.auth_admin import AuthAdminError, SupabaseAuthAdmin
from shared.db.database import Connection, Database
from shared.errors import OnboardingRequired, Underage, Unprocessable
from shared.media.storage import Storage, user_prefix
from shared.policies import service as policies

log = logging.getLogger("atelier.onboarding")

MINIMUM_AGE = 13


class InvalidBirthDate(Unprocessable):
    """The birth date is in the future or implausibly far in the past."""

    code = "invalid_birth_date"


@dataclass(frozen=True)
class Onboarded:
    onboarded_at: datetime
    policy_version: int
    terms_version: int


def age_on(birth_date: date, today: date) -> int:
    years = today.year - birth_date.year
    if (today.month, today.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def _salt(settings: Settings) -> bytes:
    """ATELIER_SIGNUP_BLOCK_SALT; else derived from the Supabase secret key; else a file in the data dir."""
    if settings.signup_block_salt:
        return settings.signup_block_salt.encode()
    if settings.supabase_secret_key:
        return hmac.new(settings.supabase_secret_key.encode(), b"atelier-signup-block", hashlib.sha256).digest()
    path = settings.signup_block_salt_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def block_hash(settings: Settings, user_id: UUID) -> str:
    return hmac.new(_salt(settings), str(user_id).encode(), hashlib.sha256).hexdigest()


def is_blocked(conn: Connection, settings: Settings, user_id: UUID) -> bool:
    row = conn.execute(
        "select 1 from blocked_signups where subject_hash = %s and expires_at > now()",
        (block_hash(settings, user_id),),
    ).fetchone()
    return row is not None


def purge_expired_blocks(conn: Connection) -> int:
    """Drop under-13 block hashes whose time is up (a scheduled step; refusals also clean up as they go)."""
    return conn.execute("delete from blocked_signups where expires_at <= now()").rowcount


def require_onboarded(conn: Connection, account_id: UUID) -> None:
    """403 `onboarding_required` unless the account finished onboarding (whatever creates content or moves money)."""
    row = conn.execute("select onboarded_at from accounts where id = %s", (account_id,)).fetchone()
    if row is None or row["onboarded_at"] is None:
        raise onboarding_required(conn)


def onboarding_required(conn: Connection) -> OnboardingRequired:
    """The 403 that names the next step: which endpoint to call, with which privacy policy version."""
    version = policies.current(conn, "privacy").version
    return OnboardingRequired(
        "Finish onboarding first: POST /v1/me/onboarding with your age (birth_date or age_confirmed) and "
        f'"accepted_policy_version": {version} (the privacy policy in force).',
        details={"call": "POST /v1/me/onboarding", "accepted_policy_version": version},
    )


def onboarded_at(conn: Connection, account_id: UUID) -> datetime | None:
    row = conn.execute("select onboarded_at from accounts where id = %s", (account_id,)).fetchone()
    return row["onboarded_at"] if row else None


def _erase_child(conn: Connection, settings: Settings, user_id: UUID) -> bool:
    """Delete the account (every user-linked row cascades, append-only ones included) and block its id."""
    conn.execute("set local atelier.erasing = 'on'")
    deleted = conn.execute("delete from accounts where id = %s", (user_id,)).rowcount
    conn.execute("delete from blocked_signups where expires_at <= now()")
    conn.execute(
        """insert into blocked_signups (subject_hash, expires_at) values (%s, now() + %s)
           on conflict (subject_hash) do update set expires_at = excluded.expires_at""",
        (block_hash(settings, user_id), timedelta(hours=settings.signup_block_hours)),
    )
    return deleted > 0


def onboard(
    db: Database,
    settings: Settings,
    auth_admin: SupabaseAuthAdmin,
    user_id: UUID,
    *,
    birth_date: date | None,
    age_confirmed: bool | None,
    accepted_policy_version: int,
    storage: Storage | None = None,
    today: date | None = None,
) -> Onboarded:
    """Complete onboarding, or — under 13 — erase the account, delete the Auth user and raise 403 `underage`."""
    today = today or datetime.now(UTC).date()
    if birth_date is not None:
        if birth_date > today or birth_date.year < today.year - 130:
            raise InvalidBirthDate()
        old_enough = age_on(birth_date, today) >= MINIMUM_AGE
        method = "birth_date"
    elif age_confirmed is not None:
        old_enough = age_confirmed
        method = "declaration"
    else:
        raise Unprocessable("Send either birth_date or age_confirmed.")

    if not old_enough:
        if storage is not None:  # objects first (uploads, support attachments): rows alone would orphan them
            storage.delete_prefix(user_prefix(user_id))
        with db.transaction() as conn:
            deleted = _erase_child(conn, settings, user_id)
        try:
            if deleted:  # a concurrent refusal of the same account deletes the Auth user once
                auth_admin.delete_user(user_id)
        except AuthAdminError as exc:  # the account is gone and blocked; the Auth user must be removed by hand
            log.error("auth user deletion failed after an underage refusal: %s", exc)
        raise Underage()

    with db.transaction() as conn:
        policy = policies.get_version(conn, "privacy", accepted_policy_version)
        if policy.version != policies.current(conn, "privacy").version:
            policies.accept(conn, user_id, "privacy", accepted_policy_version)  # raises not-current
        acceptances = {a.kind: a for a in policies.accept_current(conn, user_id)}
        row = conn.execute(
            """update accounts
                  set onboarded_at = coalesce(onboarded_at, now()),
                      age_verified_at = coalesce(age_verified_at, now()),
                      age_check = coalesce(age_check, %s)
                where id = %s returning onboarded_at""",
            (method, user_id),
        ).fetchone()
        if row is None:
            raise OnboardingRequired("The account no longer exists.")
    return Onboarded(row["onboarded_at"], acceptances["privacy"].version, acceptances["terms"].version)
