"""The data map covers the live schema: a user-linked table or column nobody mapped fails here."""

from __future__ import annotations

import re

from shared.kit.db import Database
from shared.privacy.datamap import SYSTEM_TABLES, TABLES

# Column names that hold personal data wherever they appear.
PERSONAL_NAME = re.compile(
    r"(^|_)(user_id|account_id|subject|email|ip|ip_address|user_agent|name|full_name|phone|prompt|avatar_url|birth_date)$"
)


def _schema(db: Database) -> dict[str, list[str]]:
    with db.transaction() as conn:
        rows = conn.execute(
            """select table_name, column_name from information_schema.columns
               where table_schema = 'public' order by table_name, ordinal_position"""
        ).fetchall()
    tables: dict[str, list[str]] = {}
    for row in rows:
        tables.setdefault(row["table_name"], []).append(row["column_name"])
    return tables


def _account_references(db: Database) -> set[tuple[str, str]]:
    with db.transaction() as conn:
        rows = conn.execute(
            """select c.conrelid::regclass::text as tbl, a.attname as col
               from pg_constraint c
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any(c.conkey)
               where c.contype = 'f' and c.confrelid = 'accounts'::regclass"""
        ).fetchall()
    return {(row["tbl"], row["col"]) for row in rows}


def unmapped_tables(db: Database) -> set[str]:
    return set(_schema(db)) - {item.table for item in TABLES} - set(SYSTEM_TABLES)


def unmapped_columns(db: Database) -> list[tuple[str, str]]:
    schema = _schema(db)
    covered = {(item.table, col) for item in TABLES for col in (item.subject_column, *item.personal_columns) if col}
    suspicious = {(table, col) for table, cols in schema.items() for col in cols if PERSONAL_NAME.search(col)}
    suspicious |= _account_references(db)
    return sorted((table, col) for table, col in suspicious - covered if table not in SYSTEM_TABLES)


def test_every_table_is_mapped_or_declared_system(db: Database) -> None:
    assert not unmapped_tables(db), f"tables missing from the data map: {sorted(unmapped_tables(db))}"


def test_every_user_linked_column_is_mapped(db: Database) -> None:
    missing = unmapped_columns(db)
    assert not missing, f"user-linked columns missing from the data map: {missing}"


def test_map_names_only_real_tables_and_columns(db: Database) -> None:
    schema = _schema(db)
    for item in TABLES:
        assert item.table in schema, f"data map names a table that does not exist: {item.table}"
        for column in (item.subject_column, *item.personal_columns):
            if column is not None:
                assert column in schema[item.table], f"{item.table}.{column} is mapped but does not exist"


def test_the_check_catches_an_unmapped_table_and_column(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute("create table scratch_notes (id int, owner uuid references accounts (id), note text)")
        conn.execute("alter table accounts add column phone text")
    assert unmapped_tables(db) == {"scratch_notes"}
    assert unmapped_columns(db) == [("accounts", "phone"), ("scratch_notes", "owner")]
