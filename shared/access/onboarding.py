"""The onboarding gates: has this account finished onboarding, and is this id blocked after an under-13 refusal?

Only a salted hash of a refused id is kept, for a short time (ATELIER_SIGNUP_BLOCK_HOURS). The onboarding
workflow itself (age check, first policy acceptance, under-13 erasure) is shared/lifecycle/onboarding.py."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

from config.settings import Settings
from shared.kit.db.database import Connection
from shared.kit.errors import OnboardingRequired
from shared.policies import service as policies


def _salt(settings: Settings) -> bytes:
    """ATELIER_SIGNUP_BLOCK_SALT; else derived from the Supabase secret key; else a file in the data dir."""
    if settings.signup_block_salt:
        return settings.signup_block_salt.encode()
    if settings.supabase_secret_key:
        return hmac.new(settings.supabase_secret_key.encode(), b"atelier-signup-block", hashlib.sha256).digest()
    path = settings.signup_block_salt_path
    salt = _FILE_SALTS.get(path)
    if salt is None:  # read once per process: every request's standing hashes its id with it
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        salt = _FILE_SALTS[path] = path.read_text().strip().encode()
    return salt


_FILE_SALTS: dict[Path, bytes] = {}  # salt file -> its salt (the file never changes once written)


def block_hash(settings: Settings, user_id: UUID) -> str:
    return hmac.new(_salt(settings), str(user_id).encode(), hashlib.sha256).hexdigest()


# Blocked after an under-13 refusal: a live block of the id's hash (the statement binds %(block_hash)s); the caller's
# standing (shared/access/standing.py) asks it with the account's other flags in one statement.
BLOCKED_SQL = "exists (select 1 from blocked_signups b where b.subject_hash = %(block_hash)s and b.expires_at > now())"


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


def block(conn: Connection, settings: Settings, user_id: UUID) -> None:
    """Refuse this id for ATELIER_SIGNUP_BLOCK_HOURS after an under-13 answer (only a salted hash is kept)."""
    purge_expired_blocks(conn)
    conn.execute(
        """insert into blocked_signups (subject_hash, expires_at) values (%s, now() + %s)
           on conflict (subject_hash) do update set expires_at = excluded.expires_at""",
        (block_hash(settings, user_id), timedelta(hours=settings.signup_block_hours)),
    )
