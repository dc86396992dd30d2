"""Migrations apply in order, once, refuse edits to applied files, and keep Supabase's Data API out."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from shared.kit.db import Database, migrate
from shared.kit.db.migrate import MIGRATIONS_DIR, available


def test_migrate_is_idempotent(database_url: str) -> None:
    assert migrate(database_url) == []  # the template already has everything


def test_every_migration_is_recorded(db: Database) -> None:
    with db.transaction() as conn:
        versions = [row["version"] for row in conn.execute("select version from schema_migrations order by version")]
    assert versions == [m.version for m in available()]


def test_changed_applied_migration_is_refused(database_url: str, tmp_path: Path) -> None:
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / path.name).write_text(path.read_text())
    first = sorted(tmp_path.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after release\n")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        migrate(database_url, tmp_path)


def test_failed_migration_leaves_nothing_behind(database_url: str, tmp_path: Path) -> None:
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "9999_broken.sql").write_text("create table half_done (id int);\nselect * from no_such_table;")
    with pytest.raises(psycopg.errors.UndefinedTable):
        migrate(database_url, tmp_path)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("select to_regclass('half_done')").fetchone() == (None,)
        assert conn.execute("select count(*) from schema_migrations where version = '9999'").fetchone() == (0,)


def test_every_table_has_row_level_security(db: Database) -> None:
    with db.transaction() as conn:
        rows = conn.execute(
            """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity"""
        ).fetchall()
    assert rows == [], "tables readable through Supabase's Data API"
