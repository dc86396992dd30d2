"""Plain-SQL migrations in `migrations/NNNN_name.sql`, applied in order and recorded.

The files use nothing but SQL, so operators may apply them with the Supabase CLI instead.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import psycopg

from config.values import value
from shared.kit.db.database import connect_kwargs

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_351_002  # one advisory-lock key for every migrator of this schema


@value
class Migration:
    """One SQL migration file: its version, name and statements."""

    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append(Migration(match.group(1), match.group(2), path.read_text()))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise ValueError("two migrations share a version number")
    return found


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations, each in its own transaction under an advisory lock; return their versions.

    A transaction-level lock works through Supabase's transaction pooler, so two deploys never race.
    An applied migration whose file changed is refused rather than silently skipped.
    """
    applied_now: list[str] = []
    with psycopg.connect(url, **connect_kwargs()) as conn:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(
                """create table if not exists schema_migrations (
                       version text primary key,
                       name text not null,
                       checksum text not null,
                       applied_at timestamptz not null default now())"""
            )
            conn.execute("alter table schema_migrations enable row level security")
        for migration in available(directory):
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                row = conn.execute(
                    "select checksum from schema_migrations where version = %s", (migration.version,)
                ).fetchone()
                if row is not None:
                    if row["checksum"] != migration.checksum:
                        raise RuntimeError(f"migration {migration.version} changed after it was applied")
                    continue
                conn.execute(migration.sql.encode())
                conn.execute(
                    "insert into schema_migrations (version, name, checksum) values (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
                applied_now.append(migration.version)
    return applied_now
