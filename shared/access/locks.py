"""Whether an account may act or be written for now: locked while its erasure is pending, gone once erased.

Locked has two stages. In a person's own grace period (DELETE /v1/me) the account may still read itself, cancel
and get a copy of its data (`locked_may`). Once the erasure is under way — an under-13 refusal, or a run that
has claimed the account at least once — nothing at all is accepted or stored for it (`check_not_underway`, asked
inside the caller's transaction so the refusal writes nothing) and no export is built (`UNDERWAY_SQL`, used by
the export task): a copy made then would outlive the erasure's storage step.

Every request passes `check_access` (shared by the API's caller dependency), and every write that names a stored
object passes `check_writable` before it commits, so nothing is stored for an account being erased. The erasure
workflow that sets these states lives above, in shared/privacy/erasure.py."""

from __future__ import annotations

from uuid import UUID

from shared.kit.db.database import Connection
from shared.kit.errors import Forbidden, Unauthorized


class AccountLocked(Forbidden):
    """This account is scheduled for deletion; in the grace period only reading the account, cancelling and exports
    are allowed, and nothing once the deletion is under way."""

    code = "account_locked"


class AccountErased(Unauthorized):
    """This account has been deleted."""

    code = "account_erased"


def check_access(conn: Connection, user_id: UUID, *, method: str, path: str) -> None:
    """403 `account_locked` for a locked account, except reading the account, cancelling and exporting."""
    if locked_may(method, path):
        return
    if conn.execute("select 1 from account_erasures where user_id = %s", (user_id,)).fetchone() is not None:
        raise AccountLocked()


# An erasure under way, for a query with `account_erasures e`: an under-13 refusal, or one claimed at least once.
UNDERWAY_SQL = "(e.underage or e.attempts > 0)"


def erasure_underway(conn: Connection, user_id: UUID) -> bool:
    row = conn.execute(
        f"select {UNDERWAY_SQL} as underway from account_erasures e where e.user_id = %s", (user_id,)
    ).fetchone()
    return bool(row and row["underway"])


def check_not_underway(conn: Connection, user_id: UUID) -> None:
    """403 `account_locked` for every request of an account whose erasure is under way, reads included: the
    caller raises it inside its transaction, so not even the security log or the account's email is written."""
    if erasure_underway(conn, user_id):
        raise AccountLocked()


def check_writable(conn: Connection, user_id: UUID) -> None:
    """Before a row that names a stored object is committed: the account exists and is not being erased.

    The object is written before this check, so if the check passes before a lock commits, the erasure's
    storage step (which runs after the lock) sees the object; if it runs after, the write is refused and its
    object deleted by the caller. Either way no object outlives its account. KEY SHARE holds off the
    account's deletion until the caller commits (no foreign-key failure, no 500)."""
    row = conn.execute(
        """select exists (select 1 from account_erasures e where e.user_id = a.id) as locked
             from accounts a where a.id = %s for key share""",
        (user_id,),
    ).fetchone()
    if row is None:
        raise AccountErased()
    if row["locked"]:
        raise AccountLocked()


def locked_may(method: str, path: str) -> bool:
    """What a locked account may still do in its grace period: read the account, cancel the deletion, get a copy of
    its data (request, list and read exports; the right of access outlives the wish to be deleted), read its notices
    (one says when the deletion takes effect), its rights requests and the policy versions it accepted. Once the
    erasure is under way, nothing (`check_not_underway`)."""
    key = (method.upper(), path.rstrip("/"))
    return key in LOCKED_ALLOWED or any(key[0] == m and key[1].startswith(p) for m, p in LOCKED_ALLOWED_UNDER)


LOCKED_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/v1/me"),
        ("POST", "/v1/me/deletion/cancel"),
        ("POST", "/v1/me/exports"),
        ("GET", "/v1/me/exports"),
        ("GET", "/v1/me/data"),  # the locked page states what is deleted and what is kept
        ("GET", "/v1/me/requests"),
        ("GET", "/v1/me/policy-acceptances"),
        ("GET", "/v1/me/notifications"),
    }
)
LOCKED_ALLOWED_UNDER: tuple[tuple[str, str], ...] = (
    ("GET", "/v1/me/exports/"),  # one export, by id
    ("POST", "/v1/me/notifications/"),  # marking a notice seen: .../{id}/seen
)


def is_erased(conn: Connection, user_id: UUID) -> bool:
    try:
        check_not_erased(conn, user_id)
    except AccountErased:
        return True
    return False


def check_not_erased(conn: Connection, user_id: UUID) -> None:
    """401 `account_erased` for a token of an erased account (checked before the account is re-created)."""
    row = conn.execute(
        """select 1 from erased_accounts e, audit_pseudonym_key k
            where e.subject_ref = encode(sha256(convert_to(k.key || ':' || %s::text, 'UTF8')), 'hex')""",
        (user_id,),
    ).fetchone()
    if row is not None:
        raise AccountErased()
