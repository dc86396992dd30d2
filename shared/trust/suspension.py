"""Account suspension: a suspended account keeps its rights (sign in, read, export, delete) but creates nothing.

Creating routes (upload, generate, publish, buy) ask `require_active`; everything else ignores suspension,
so a suspended person can still see why, take their data and leave. Operators suspend by email; the
address finds the account and is stored nowhere, and the audit row names the account by pseudonym only.
"""

from __future__ import annotations

from uuid import UUID

from config.values import value
from shared import audit
from shared.accounts import repo as accounts_repo
from shared.accounts.models import Account
from shared.kit.db.database import Connection
from shared.kit.errors import BadRequest, Forbidden, NotFound

OPERATOR = "operator"
MAX_REASON = 1000


class AccountSuspended(Forbidden):
    """This account is suspended: it can read, export and delete its data, but not upload, generate, publish or buy."""

    code = "account_suspended"


@value
class SuspensionChange:
    """What suspending or lifting did to an account."""

    account_id: UUID
    changed: bool  # False when the account already was in the asked state (a repeat is harmless)


def is_suspended(conn: Connection, user_id: UUID) -> bool:
    row = conn.execute(
        "select suspended_at is not null as suspended from accounts where id = %s", (user_id,)
    ).fetchone()
    return bool(row and row["suspended"])


def require_active(conn: Connection, user_id: UUID) -> None:
    """Refuse a creating action of a suspended account with 403 `account_suspended`."""
    if is_suspended(conn, user_id):
        raise AccountSuspended()


def _one_account(conn: Connection, email: str) -> Account:
    matches = accounts_repo.find_by_email(conn, email)
    if not matches:
        raise NotFound("No account has this email.", code="account_not_found")
    if len(matches) > 1:
        raise BadRequest("Several accounts share this email.", code="ambiguous_email")
    return matches[0]


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise BadRequest("A suspension needs a reason.", code="reason_required")
    if len(text) > MAX_REASON:
        raise BadRequest(f"The reason is longer than {MAX_REASON} characters.", code="reason_too_long")
    return text


def suspend(conn: Connection, *, email: str, reason: str) -> SuspensionChange:
    """Suspend the account with this email; idempotent (a second call changes and notifies nothing)."""
    text = _reason(reason)
    account = _one_account(conn, email)
    if not accounts_repo.suspend(conn, account.id, reason=text):
        return SuspensionChange(account.id, changed=False)
    # Lazy: operators suspend; the API's routes only read the standing, and start without the decisions' records and
    # the mail machinery.
    from shared.trust import decisions  # noqa: PLC0415
    from shared.trust.notices import CONTEST, notify  # noqa: PLC0415

    decision = decisions.record_operator(conn, user_id=account.id, stage="suspension", reason=text)

    notify(
        conn,
        account.id,
        kind="account_suspended",
        title="Your account is suspended",
        body=(
            f"Reason: {text}\n\n{decisions.statement(decision)}\n\nYou can still sign in, see your images, "
            f"export your data and delete your account, but you cannot upload, generate, publish or buy credits. "
            f"{CONTEST}"
        ),
        decision_id=decision.id,
    )
    audit.record(conn, actor=OPERATOR, action="account.suspend", subject_id=account.id, details={})
    return SuspensionChange(account.id, changed=True)


def unsuspend(conn: Connection, *, email: str) -> SuspensionChange:
    """Lift a suspension; idempotent."""
    return unsuspend_account(conn, _one_account(conn, email).id)


def unsuspend_account(conn: Connection, account_id: UUID, *, tell_owner: bool = True) -> SuspensionChange:
    """Lift a suspension by account id (its decision is overturned); `tell_owner=False` when the caller tells
    them (an appeal)."""
    if not accounts_repo.unsuspend(conn, account_id):
        return SuspensionChange(account_id, changed=False)
    from shared.trust import decisions  # noqa: PLC0415  (lazy: see suspend)

    found = decisions.latest_operator(conn, stage="suspension", user_id=account_id, media_id=None)
    if found is not None:
        decisions.overturn(conn, found.id)
    if tell_owner:
        from shared.trust.notices import notify  # noqa: PLC0415

        notify(
            conn,
            account_id,
            kind="account_unsuspended",
            title="Your account is active again",
            body="The suspension of your account was lifted; everything works again.",
        )
    audit.record(conn, actor=OPERATOR, action="account.unsuspend", subject_id=account_id, details={})
    return SuspensionChange(account_id, changed=True)
