"""Whether an account may act or be written for now: locked while its erasure is pending, gone once erased.

Every request passes `check_access` (shared by the API's caller dependency), and every write that names a stored
object passes `check_writable` before it commits, so nothing is stored for an account being erased. The erasure
workflow that sets these states lives above, in shared/privacy/erasure.py."""

from __future__ import annotations

from uuid import UUID

from shared.kit.db.database import Connection
from shared.kit.errors import Forbidden, Unauthorized


class AccountLocked(Forbidden):
    """This account is scheduled for deletion; only reading the account, cancelling and exports are allowed."""

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
    """What a locked account may still do: read the account, cancel the deletion, get a copy of its data (request,
    list and read exports; the right of access outlives the wish to be deleted), read its notices (one says when the
    deletion takes effect), its rights requests and the policy versions it accepted."""
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
