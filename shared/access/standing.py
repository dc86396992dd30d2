"""An account's standing, read with its row in one statement: what the request path asks of every request.

The API's caller refuses a blocked id (under 13) and an account whose erasure is under way, locks an account
awaiting erasure out of all but a few routes, and applies the policy gate; the creating routes then refuse a
suspended account and one that has not finished onboarding. Asked one by one that was six statements, in three
transactions; `read` asks them all in one (`get_with` of the accounts' repo), in the caller's transaction, with the
row locked FOR KEY SHARE (shared/lifecycle/signup.py `sign_in` says why), and whether the account's activity is
due a refresh (`stale`): the caller then upserts the account only when it is missing or stale or its email changed.

Each flag is the very condition its own check uses (`onboarding.BLOCKED_SQL`, `locks.UNDERWAY_SQL`, the policies'
`pending_material_sql`, the account's own columns), so the statement and the separate checks cannot disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from config.settings import Settings
from config.values import value
from shared.access.locks import UNDERWAY_SQL, AccountLocked, locked_may
from shared.access.onboarding import BLOCKED_SQL, block_hash
from shared.accounts import repo as accounts
from shared.accounts.models import Account
from shared.accounts.repo import STALE_SQL
from shared.consent.service import LINK_DUE_SQL, linkable_device
from shared.kit.db.database import Connection
from shared.kit.errors import Underage
from shared.policies.repo import pending_material_sql
from shared.policies.service import is_gate_exempt

_COLUMNS = {
    "blocked": BLOCKED_SQL,
    "erasure_pending": "exists (select 1 from account_erasures e where e.user_id = a.id)",
    "erasure_underway": f"exists (select 1 from account_erasures e where e.user_id = a.id and {UNDERWAY_SQL})",
    "policy_pending": f"exists ({pending_material_sql('a.id')})",
    "onboarded_at": "a.onboarded_at",
    "suspended": "a.suspended_at is not null",
    "restricted": "a.restricted_at is not null",
    "stale": STALE_SQL,
    "device_link_due": LINK_DUE_SQL,
}


@value
class Standing:
    """The caller's account and every check a request asks about it, read in one statement."""

    account: Account
    blocked: bool  # its id was refused as under 13, within ATELIER_SIGNUP_BLOCK_HOURS
    erasure_pending: bool  # awaiting erasure: locked (`locks.check_access`)
    erasure_underway: bool  # nothing at all accepted (`locks.check_not_underway`)
    policy_pending: bool  # a material policy version in force it has not accepted (`policies.check_gate`)
    onboarded_at: datetime | None  # None: creating routes answer 403 `onboarding_required`
    suspended: bool  # creating routes answer 403 `account_suspended` (shared/trust/suspension.py)
    restricted: bool  # processing restricted (PUT /v1/me/restriction): nothing optional (shared/access/guard.py)
    stale: bool = False  # its activity was last recorded over an hour ago: the upsert would refresh it
    device_link_due: bool = False  # the request's device has a consent choice to link to it (`consent.link_device`)

    def check_entry(self) -> None:
        """The refusals that write nothing (asked inside the caller's transaction, which they roll back):
        403 `underage` for a blocked id, 403 `account_locked` once the erasure is under way."""
        if self.blocked:
            raise Underage()
        if self.erasure_underway:
            raise AccountLocked()

    def check_access(self, *, method: str, path: str) -> None:
        """403 `account_locked` while awaiting erasure, except what `locks.locked_may` allows."""
        if self.erasure_pending and not locked_may(method, path):
            raise AccountLocked()

    def gated(self, *, method: str, path: str) -> bool:
        """True when the policy gate refuses this route: `policies.check_gate` then raises 428 with the versions."""
        return self.policy_pending and not is_gate_exempt(method, path)

    def admits(self, *, method: str, path: str) -> bool:
        """True when none of the caller's refusals applies (`check_entry`, `check_access`, `gated`): what lets the
        request path take its one-statement admission (shared/lifecycle/entry.py)."""
        return not (
            self.blocked
            or self.erasure_underway
            or (self.erasure_pending and not locked_may(method, path))
            or self.gated(method=method, path=path)
        )


def read(
    conn: Connection,
    user_id: UUID,
    *,
    settings: Settings,
    now: datetime | None = None,
    key_share: bool = False,
    device_id: str | None = None,
) -> Standing | None:
    """The account and its standing in one statement; None when there is no such account. `key_share` locks the
    row FOR KEY SHARE (`accounts.get_with`); `device_id`: the request's device, for `device_link_due`."""
    found = accounts.get_with(
        conn,
        user_id,
        _COLUMNS,
        read_params(user_id, settings=settings, now=now, device_id=device_id),
        key_share=key_share,
    )
    return _standing(*found) if found is not None else None


def read_params(
    user_id: UUID, *, settings: Settings, now: datetime | None = None, device_id: str | None = None
) -> dict[str, object]:
    """The parameters of `READ_SQL` but the account id (`%(account_id)s`)."""
    return {
        "block_hash": block_hash(settings, user_id),
        "now": now or datetime.now(UTC),
        "device_id": linkable_device(device_id),
    }


# `read`'s statement, unlocked, for a bigger statement that reads the standing with other work
# (shared/lifecycle/entry.py); its parameters are `read_params`' and `%(account_id)s`, its row is `from_row`'s.
READ_SQL = accounts.select_with(_COLUMNS)
FLAGS = tuple(_COLUMNS)


def from_row(row: dict[str, Any]) -> Standing:
    return _standing(*accounts.split_with(row, _COLUMNS))


def _standing(account: Account, flags: dict[str, Any]) -> Standing:
    return Standing(
        account=account,
        blocked=bool(flags["blocked"]),
        erasure_pending=bool(flags["erasure_pending"]),
        erasure_underway=bool(flags["erasure_underway"]),
        policy_pending=bool(flags["policy_pending"]),
        onboarded_at=flags["onboarded_at"],
        suspended=bool(flags["suspended"]),
        restricted=bool(flags["restricted"]),
        stale=bool(flags["stale"]),
        device_link_due=bool(flags["device_link_due"]),
    )
