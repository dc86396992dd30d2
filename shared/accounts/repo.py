"""SQL for the accounts table: the one module that writes it (tests/unit/test_table_owners.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from shared.accounts.models import Account
from shared.kit.db.database import Connection

PROFILE_FIELDS = frozenset({"display_name", "full_name", "avatar_url"})  # what rectification may change
_COLUMNS = "id, email, display_name, full_name, avatar_url, created_at, last_active_at"

# Activity is recorded at most hourly: enough for "3 years after last activity", without a write per request.
_REFRESH_AFTER = "interval '1 hour'"
_UPSERT = f"""
insert into accounts (id, email, display_name, full_name, avatar_url)
values (%(id)s, %(email)s, %(display_name)s, %(full_name)s, %(avatar_url)s)
on conflict (id) do update
   set last_active_at = now(), email = excluded.email
 where accounts.last_active_at < now() - {_REFRESH_AFTER}
    or accounts.email is distinct from excluded.email
returning {_COLUMNS}, (xmax = 0) as created
"""


def _account(row: dict[str, Any]) -> Account:
    return Account(**{key: row[key] for key in _COLUMNS.split(", ")})


# Whether the upsert above would change a stored account: what `sign_in` reads first so that it upserts only then. The
# upsert locks the conflicting row (FOR UPDATE) even when its WHERE is false, so upserting on every request made the
# requests of one account queue on that lock until each one's commit.
STALE_SQL = f"a.last_active_at < now() - {_REFRESH_AFTER}"


def upsert_claims(conn: Connection, values: dict[str, Any]) -> tuple[Account | None, bool]:
    """Create the account or refresh its activity; returns (account, created), the account None when the row was
    left as it was (refreshed within the hour): the caller reads it with its next statement (`get`, `get_with`)."""
    row = conn.execute(_UPSERT, values).fetchone()
    if row is not None:
        return _account(row), bool(row["created"])
    return None, False


def upsert_from_claims(conn: Connection, values: dict[str, Any]) -> tuple[Account, bool]:
    """Create the account or refresh its activity; returns (account, created)."""
    upserted, created = upsert_claims(conn, values)
    if upserted is not None:
        return upserted, created
    account = get(conn, values["id"])
    if account is None:  # the conflict above proves the row exists; this would be a bug in the SQL
        raise RuntimeError("account vanished during upsert")
    return account, False


def get(conn: Connection, account_id: UUID) -> Account | None:
    row = conn.execute(f"select {_COLUMNS} from accounts where id = %s", (account_id,)).fetchone()
    return _account(row) if row else None


def get_with(
    conn: Connection, account_id: UUID, columns: dict[str, str], params: dict[str, Any], *, key_share: bool = False
) -> tuple[Account, dict[str, Any]] | None:
    """The account and, in the same statement, `columns` (name -> SQL expression over the account row `a`, binding
    named `params`): what the request path asks of every request, in one round trip (shared/access/standing.py).

    `key_share` locks the row FOR KEY SHARE until the transaction ends: the lock a row that references the account
    takes anyway (the security log's foreign key), which waits for a writer holding FOR UPDATE (onboarding, the
    Auth sync) or deleting the row (erasure) and then reads the row as that writer left it, while requests of one
    account never wait for each other."""
    row = conn.execute(
        select_with(columns) + (" for key share of a" if key_share else ""), {**params, "account_id": account_id}
    ).fetchone()
    return split_with(row, columns) if row is not None else None


def select_with(columns: dict[str, str]) -> str:
    """`get_with`'s statement without its lock, for a bigger statement to read from (the account id is
    `%(account_id)s`); `split_with` reads its row."""
    if not all(name.isidentifier() for name in columns):
        raise ValueError(f"not column names: {sorted(columns)}")
    selected = [f"a.{column}" for column in _COLUMNS.split(", ")]
    selected += [f"({expression}) as {name}" for name, expression in columns.items()]
    return f"select {', '.join(selected)} from accounts a where a.id = %(account_id)s"


def split_with(row: dict[str, Any], columns: dict[str, str]) -> tuple[Account, dict[str, Any]]:
    return _account(row), {name: row[name] for name in columns}


def find_by_email(conn: Connection, email: str) -> list[Account]:
    """Accounts whose email matches, ignoring case (normally zero or one)."""
    rows = conn.execute(
        f"select {_COLUMNS} from accounts where lower(email) = lower(%s) order by created_at", (email.strip(),)
    ).fetchall()
    return [_account(row) for row in rows]


def set_profile(conn: Connection, account_id: UUID, fields: dict[str, str | None]) -> None:
    """Rectification: overwrite the given profile columns (names, avatar); callers validate the values."""
    unknown = set(fields) - PROFILE_FIELDS
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    columns = sorted(fields)
    conn.execute(
        f"update accounts set {', '.join(f'{c} = %({c})s' for c in columns)} where id = %(id)s",
        {"id": account_id, **fields},
    )


def restricted_since(conn: Connection, account_id: UUID) -> datetime | None:
    row = conn.execute("select restricted_at from accounts where id = %s", (account_id,)).fetchone()
    return row["restricted_at"] if row else None


def set_restricted(conn: Connection, account_id: UUID, *, since: datetime, reason: str | None) -> None:
    """Restrict processing (the first date is kept when restricting again), with the person's reason."""
    conn.execute(
        """update accounts set restricted_at = coalesce(restricted_at, %s), restriction_reason = %s
            where id = %s""",
        (since, reason, account_id),
    )


def lift_restriction(conn: Connection, account_id: UUID) -> None:
    conn.execute("update accounts set restricted_at = null, restriction_reason = null where id = %s", (account_id,))


def mark_onboarded(conn: Connection, account_id: UUID, *, age_check: str) -> datetime | None:
    """Record that onboarding passed (how the age was checked, never the birth date); None if no such account."""
    row = conn.execute(
        """update accounts set onboarded_at = now(), age_verified_at = now(), age_check = %s
            where id = %s returning onboarded_at""",
        (age_check, account_id),
    ).fetchone()
    return row["onboarded_at"] if row else None


def suspend(conn: Connection, account_id: UUID, *, reason: str) -> bool:
    """Suspend an account that is not suspended; False when it already was (nothing changed)."""
    row = conn.execute(
        """update accounts set suspended_at = now(), suspension_reason = %s
            where id = %s and suspended_at is null returning id""",
        (reason, account_id),
    ).fetchone()
    return row is not None


def unsuspend(conn: Connection, account_id: UUID) -> bool:
    """Lift a suspension; False when the account was not suspended."""
    row = conn.execute(
        """update accounts set suspended_at = null, suspension_reason = null
            where id = %s and suspended_at is not null returning id""",
        (account_id,),
    ).fetchone()
    return row is not None


def clear_columns(conn: Connection, account_id: UUID, columns: list[str]) -> None:
    """Erasure's first pass: null the account's personal columns (the data map names them) before its row goes."""
    if not columns:
        return
    if not all(column.isidentifier() for column in columns):  # names from the data map, quoted below
        raise ValueError(f"not column names: {columns}")
    assignments = ", ".join(f'"{column}" = null' for column in columns)
    conn.execute(f"update accounts set {assignments} where id = %s", (account_id,))
