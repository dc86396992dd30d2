"""Onboarding: the age check and the first policy acceptance, once; under 13 the account is erased at once.

Only the fact that the age check passed is stored (how and when), never the birth date. Onboarding happens
once: afterwards the route answers 409, so a replayed "not old enough" can never destroy a grown account.
An under-13 account is locked and blocked (a salted hash of its id, for a short time) in one transaction,
then goes through the same erasure steps as any account, at once: storage, Polar, the Supabase Auth user,
then every row the data map names (webhook inbox included), and a last sweep of its storage folder.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from config.settings import Settings
from config.values import value
from shared.access.locks import AccountErased, AccountLocked
from shared.access.onboarding import block
from shared.accounts import repo as accounts
from shared.kit.db.database import Connection, Database
from shared.kit.errors import AlreadyOnboarded, InvalidBirthDate, OnboardingRequired, Underage, Unprocessable
from shared.policies import service as policies

if TYPE_CHECKING:  # only an under-13 answer reaches erasure: imported then (the API's cold start, issue 34)
    from shared.privacy import erasure

log = logging.getLogger("atelier.onboarding")

MINIMUM_AGE = 13


@value
class Onboarded:
    onboarded_at: datetime
    policy_version: int
    terms_version: int


def age_on(birth_date: date, today: date) -> int:
    years = today.year - birth_date.year
    if (today.month, today.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def _lock_and_block(conn: Connection, settings: Settings, user_id: UUID, now: datetime) -> None:
    """Lock the account (due at once, no grace, no cancel) and block its id; the erasure steps follow."""
    from shared.privacy import erasure  # noqa: PLC0415 - see the imports

    erasure.request_erasure(conn, user_id, now=now, grace_days=0, by="underage")
    block(conn, settings, user_id)


def _lock_not_onboarded(conn: Connection, user_id: UUID) -> None:
    """Serialise onboarding per account under the account row's lock, and refuse with the truth:

    - 409 `already_onboarded` once it is done (a replay must never erase a grown account);
    - 403 `underage` once an under-13 answer won the lock (it commits the lock before its erasure runs, so an
      adult answer queued behind it must not report success), 403 `account_locked` for another pending erasure;
    - 401 `account_erased` once the row is gone.
    Both answers check the same state under the same lock, so of two concurrent answers exactly one wins."""
    row = conn.execute("select onboarded_at from accounts where id = %s for update", (user_id,)).fetchone()
    if row is None:
        raise AccountErased()
    if row["onboarded_at"] is not None:
        raise AlreadyOnboarded()
    # A statement of its own, after the lock: a join in the locking statement would re-read only the locked row
    # once the lock is granted, and see the erasure row as it was before the wait (none).
    pending = conn.execute("select underage from account_erasures where user_id = %s", (user_id,)).fetchone()
    if pending is not None:  # after an under-13 answer, that same answer; else the deletion the person asked for
        raise Underage() if pending["underage"] else AccountLocked()


def onboard(
    db: Database,
    settings: Settings,
    processors: erasure.Processors,
    user_id: UUID,
    *,
    birth_date: date | None,
    age_confirmed: bool | None,
    accepted_policy_version: int,
    today: date | None = None,
) -> Onboarded:
    """Complete onboarding once (409 `already_onboarded` after), or — under 13 — lock, block and erase the
    account through the erasure steps, then raise 403 `underage`."""
    now = datetime.now(UTC)
    today = today or now.date()
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
        with db.transaction() as conn:
            _lock_not_onboarded(conn, user_id)
            _lock_and_block(conn, settings, user_id, now)
        # Lock first (every later request of this account is refused), then storage, Polar, Auth, rows. A
        # failing remote step leaves the account locked and blocked; `erase-accounts` resumes it.
        from shared.privacy import erasure  # noqa: PLC0415 - see the imports

        if not erasure.erase_now(db, user_id, processors, now=now):
            log.warning("underage erasure did not finish at once; the scheduled task resumes it")
        raise Underage()

    with db.transaction() as conn:
        _lock_not_onboarded(conn, user_id)
        policy = policies.get_version(conn, "privacy", accepted_policy_version)
        if policy.version != policies.current(conn, "privacy").version:
            policies.accept(conn, user_id, "privacy", accepted_policy_version)  # raises not-current
        acceptances = {a.kind: a for a in policies.accept_current(conn, user_id)}
        onboarded = accounts.mark_onboarded(conn, user_id, age_check=method)
        if onboarded is None:  # pragma: no cover - the row is locked above
            raise OnboardingRequired("The account no longer exists.")
    return Onboarded(onboarded, acceptances["privacy"].version, acceptances["terms"].version)
