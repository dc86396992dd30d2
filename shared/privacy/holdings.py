"""What Atelier holds about one person, read straight from the data map (the map export and erasure follow),
so the privacy center can never describe data differently from how the code treats it."""

from __future__ import annotations

from uuid import UUID

from psycopg import sql

from config.retention import RetentionRule, rule
from config.values import value
from shared.kit.db.database import Connection
from shared.privacy.datamap import STORAGE, TABLES, Category, Erasure
from shared.privacy.plain import GROUPS, Group


@value
class Holding:
    """One table or storage prefix: why it is held, on what basis, how long, what erasure does, how many rows."""

    kind: str  # "table" or "storage"
    name: str
    category: Category
    purpose: str
    legal_basis: str | None  # storage inherits the basis of the rows that point at it
    retention: RetentionRule
    on_deletion: Erasure
    count: int | None  # the person's rows; None where counting is not cheap (storage) or no account id is kept
    key: str = ""  # the data map's table or storage prefix


@value
class PlainHolding:
    """One group of the data map in the person's words (shared/privacy/plain.py), with the entries' counts."""

    group: Group
    count: int | None  # the person's records in it; None when none of its entries can be counted
    deleted_with_account: bool  # everything in it goes with the account


def _count(conn: Connection, table: str, column: str, user_id: UUID) -> int:
    query = sql.SQL("select count(*) as n from {table} where {column} = %(uid)s").format(
        table=sql.Identifier(table), column=sql.Identifier(column)
    )
    # An untyped literal, so Postgres reads it as the column's type (uuid, or text for external ids).
    row = conn.execute(query, {"uid": str(user_id)}).fetchone()
    return int(row["n"]) if row else 0


def holdings(conn: Connection, user_id: UUID) -> list[Holding]:
    """Every entry of the data map, with the person's row counts, grouped by category in the map's order."""
    found = [
        Holding(
            kind="table",
            name=entry.table,
            category=entry.category,
            purpose=entry.purpose,
            legal_basis=str(entry.legal_basis),
            retention=rule(entry.retention),
            on_deletion=entry.erasure,
            count=_count(conn, entry.table, entry.subject_column, user_id) if entry.subject_column else None,
            key=entry.table,
        )
        for entry in TABLES
    ]
    found += [
        Holding(
            kind="storage",
            name="files/" + entry.prefix.replace("users/{user_id}/", "").rstrip("/"),
            category=entry.category,
            purpose=entry.purpose,
            legal_basis=None,
            retention=rule(entry.retention),
            on_deletion=entry.erasure,
            count=None,
            key=entry.prefix,
        )
        for entry in STORAGE
    ]
    order = list(Category)
    return sorted(found, key=lambda h: order.index(h.category))


def in_plain_words(found: list[Holding]) -> list[PlainHolding]:
    """The holdings grouped as a person recognises them, in the order of shared/privacy/plain.py."""
    out = []
    for group in GROUPS:
        members = [h for h in found if h.key in group.tables or h.key in group.prefixes]
        counts = [h.count for h in members if h.count is not None]
        out.append(
            PlainHolding(
                group=group,
                count=sum(counts) if counts else None,
                deleted_with_account=all(h.on_deletion == Erasure.DELETE for h in members),
            )
        )
    return out
