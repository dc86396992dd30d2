"""SQL for the accounts table."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from shared.accounts.models import Account
from shared.kit.db.database import Connection

_COLUMNS = "id, email, display_name, full_name, avatar_url, created_at, last_active_at"

# Activity is recorded at most hourly: enough for "3 years after last activity", without a write per request.
_UPSERT = f"""
insert into accounts (id, email, display_name, full_name, avatar_url)
values (%(id)s, %(email)s, %(display_name)s, %(full_name)s, %(avatar_url)s)
on conflict (id) do update
   set last_active_at = now(), email = excluded.email
 where accounts.last_active_at < now() - interval '1 hour'
    or accounts.email is distinct from excluded.email
returning {_COLUMNS}, (xmax = 0) as created
"""


def _account(row: dict[str, Any]) -> Account:
    return Account(**{key: row[key] for key in _COLUMNS.split(", ")})


def upsert_from_claims(conn: Connection, values: dict[str, Any]) -> tuple[Account, bool]:
    """Create the account or refresh its activity; returns (account, created)."""
    row = conn.execute(_UPSERT, values).fetchone()
    if row is not None:
        return _account(row), bool(row["created"])
    account = get(conn, values["id"])
    if account is None:  # the conflict above proves the row exists; this would be a bug in the SQL
        raise RuntimeError("account vanished during upsert")
    return account, False


def get(conn: Connection, account_id: UUID) -> Account | None:
    row = conn.execute(f"select {_COLUMNS} from accounts where id = %s", (account_id,)).fetchone()
    return _account(row) if row else None


def find_by_email(conn: Connection, email: str) -> list[Account]:
    """Accounts whose email matches, ignoring case (normally zero or one)."""
    rows = conn.execute(
        f"select {_COLUMNS} from accounts where lower(email) = lower(%s) order by created_at", (email.strip(),)
    ).fetchall()
    return [_account(row) for row in rows]
