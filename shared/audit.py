"""The audit log: who did what to whom, append-only, naming nobody.

The subject is a pseudonym: a SHA-256 of the account id salted with a per-database random key
(`audit_pseudonym_key`), so the log survives erasure without identifying anyone to a reader who lacks
the database. Details carry field names, ids and amounts only; a value that looks like an email is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from uuid import UUID

from psycopg.types.json import Jsonb

from shared.kit.db.database import Connection

DetailValue = str | int | float | bool | None
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+")
_MAX_DETAIL_TEXT = 200


def _check(details: Mapping[str, DetailValue]) -> None:
    for key, value in details.items():
        if isinstance(value, str) and (_EMAIL_LIKE.search(value) or len(value) > _MAX_DETAIL_TEXT):
            raise ValueError(f"audit detail {key!r} must be an id, a name or an amount, not free text")
        if not isinstance(value, str | int | float | bool | None):
            raise TypeError(f"audit detail {key!r} must be a scalar")


def record(
    conn: Connection, *, actor: str, action: str, subject_id: UUID | None, details: Mapping[str, DetailValue]
) -> UUID:
    """Append one audit row in the caller's transaction; returns its id."""
    _check(details)
    row = conn.execute(
        """insert into audit_log (actor, action, subject_ref, details)
           select %(actor)s, %(action)s,
                  case when %(subject)s::uuid is null then null
                       else encode(sha256(convert_to(k.key || ':' || %(subject)s::text, 'UTF8')), 'hex') end,
                  %(details)s
             from audit_pseudonym_key k
           returning id""",
        {"actor": actor, "action": action, "subject": subject_id, "details": Jsonb(dict(details))},
    ).fetchone()
    if row is None:
        raise RuntimeError("the audit pseudonym key is missing; run the migrations")
    audit_id: UUID = row["id"]
    return audit_id


def record_for_ref(conn: Connection, *, actor: str, action: str, ref: str, details: Mapping[str, DetailValue]) -> UUID:
    """Append one audit row for a subject known only by its pseudonym (after erasure, the id is gone)."""
    _check(details)
    row = conn.execute(
        "insert into audit_log (actor, action, subject_ref, details) values (%s, %s, %s, %s) returning id",
        (actor, action, ref, Jsonb(dict(details))),
    ).fetchone()
    if row is None:  # pragma: no cover - insert ... returning always yields the row
        raise RuntimeError("audit insert returned nothing")
    audit_id: UUID = row["id"]
    return audit_id


def subject_ref(conn: Connection, subject_id: UUID) -> str:
    """The pseudonym `record` stores for this account (to find its audit rows)."""
    row = conn.execute(
        "select encode(sha256(convert_to(key || ':' || %s::text, 'UTF8')), 'hex') as ref from audit_pseudonym_key",
        (subject_id,),
    ).fetchone()
    if row is None:
        raise RuntimeError("the audit pseudonym key is missing; run the migrations")
    ref: str = row["ref"]
    return ref
