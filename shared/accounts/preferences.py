"""Per-account choices about optional processing (objection) and gallery display, in one place.

There is one record of each choice, never two copies that could drift: analytics, marketing emails and
service improvement are consent categories, so they are consent events (the cookie banner writes them too;
a change here is an event with source 'account'); gallery display is not consent but an objection to part
of the service, kept in the `preferences` row (missing row: shown). Every change is audited by field name.
Defaults: everything optional off until chosen; gallery display on, for what the user publishes; service
improvement as ATELIER_IMPROVEMENT_DEFAULT says (`opt_in`, the default: off until chosen; `opt_out`: on until
the person objects).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Literal
from uuid import UUID

from config.settings import get_settings
from config.values import value
from shared import audit
from shared.consent import service as consent
from shared.kit.db.database import Connection

ImprovementDefault = Literal["opt_in", "opt_out"]


@value
class Preferences:
    """An account's privacy preferences, off unless chosen (the gallery display on)."""

    analytics: bool = False
    marketing_emails: bool = False
    gallery_display: bool = True
    service_improvement: bool = False
    updated_at: datetime | None = None


NAMES: tuple[str, ...] = tuple(f.name for f in fields(Preferences) if f.name != "updated_at")
# preference name -> consent category it is recorded under
CONSENT_CATEGORY: dict[str, str] = {
    "analytics": "analytics",
    "marketing_emails": "marketing",
    "service_improvement": "service_improvement",
}


def improvement_on_by_default(default: ImprovementDefault | None = None) -> bool:
    return (default or get_settings().improvement_default) == "opt_out"


def get_preferences(
    conn: Connection, user_id: UUID, *, improvement_default: ImprovementDefault | None = None
) -> Preferences:
    """The choices in force: the user's latest consent event and their gallery-display row (service improvement:
    the default when the person never chose)."""
    row = conn.execute("select gallery_display, updated_at from preferences where user_id = %s", (user_id,)).fetchone()
    event = consent.current(conn, user_id=user_id, device_id=None)
    improvement = consent.account_choice(conn, user_id, "service_improvement")
    times = [t for t in (row["updated_at"] if row else None, event.created_at if event else None) if t is not None]
    return Preferences(
        analytics=bool(event and event.categories.get("analytics", False)),
        marketing_emails=bool(event and event.categories.get("marketing", False)),
        gallery_display=bool(row["gallery_display"]) if row else True,
        service_improvement=improvement_on_by_default(improvement_default) if improvement is None else improvement,
        updated_at=max(times) if times else None,
    )


def set_preferences(
    conn: Connection, user_id: UUID, *, improvement_default: ImprovementDefault | None = None, **changes: bool
) -> Preferences:
    """Change some choices (others keep their value); effective at once. Returns all of them."""
    unknown = set(changes) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown preferences: {sorted(unknown)}")
    before = get_preferences(conn, user_id, improvement_default=improvement_default)
    changed = {name: bool(value) for name, value in changes.items() if getattr(before, name) != bool(value)}
    consent_changes = {CONSENT_CATEGORY[name]: value for name, value in changed.items() if name in CONSENT_CATEGORY}
    if consent_changes:
        consent.record_account_choice(conn, user_id, consent_changes)
    if "gallery_display" in changed:
        conn.execute(
            """insert into preferences (user_id, gallery_display) values (%s, %s)
               on conflict (user_id) do update set gallery_display = excluded.gallery_display, updated_at = now()""",
            (user_id, changed["gallery_display"]),
        )
    if changed:
        audit.record(
            conn,
            actor="user",
            action="preferences.changed",
            subject_id=user_id,
            details={"fields": ",".join(sorted(changed))},
        )
    return get_preferences(conn, user_id, improvement_default=improvement_default)
