"""Per-account preferences: optional processing switches and gallery display. A missing row means defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from uuid import UUID

from shared.db.database import Connection


@dataclass(frozen=True)
class Preferences:
    analytics: bool = False
    marketing_emails: bool = False
    gallery_display: bool = True
    service_improvement: bool = False
    updated_at: datetime | None = None


NAMES: tuple[str, ...] = tuple(f.name for f in fields(Preferences) if f.name != "updated_at")


def get_preferences(conn: Connection, user_id: UUID) -> Preferences:
    row = conn.execute(
        f"select {', '.join(NAMES)}, updated_at from preferences where user_id = %s", (user_id,)
    ).fetchone()
    return Preferences(**row) if row else Preferences()


def set_preferences(conn: Connection, user_id: UUID, **changes: bool) -> Preferences:
    """Change some preferences (others keep their value or default); returns all of them."""
    unknown = set(changes) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown preferences: {sorted(unknown)}")
    if not changes:
        return get_preferences(conn, user_id)
    columns = sorted(changes)
    assignments = ", ".join(f"{name} = excluded.{name}" for name in columns)
    row = conn.execute(
        f"""insert into preferences (user_id, {", ".join(columns)}) values (%(user_id)s, {
            ", ".join(f"%({name})s" for name in columns)
        })
            on conflict (user_id) do update set {assignments}, updated_at = now()
            returning {", ".join(NAMES)}, updated_at""",
        {"user_id": user_id, **{name: bool(changes[name]) for name in columns}},
    ).fetchone()
    if row is None:  # pragma: no cover - insert ... returning always yields the row
        raise RuntimeError("preferences upsert returned nothing")
    return Preferences(**row)
