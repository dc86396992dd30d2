"""The one guard asked before any optional processing, and usage analytics that obey it.

Today `can_process` consults consent events and the Global Privacy Control signal. The seam for the
privacy-rights work: a restricted account (PUT /v1/me/restriction) and the objection preferences
(GET/PUT /v1/me/preferences) will be checked first, inside this function, so every caller obeys them
without change.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from shared.consent import service as consent
from shared.db.database import Connection

Purpose = Literal["analytics", "marketing", "gallery", "service_improvement"]
PURPOSES: tuple[Purpose, ...] = ("analytics", "marketing", "gallery", "service_improvement")


def can_process(
    conn: Connection,
    user_id: UUID | None,
    purpose: Purpose,
    *,
    device_id: str | None = None,
    gpc: bool = False,
) -> bool:
    """May we process this person's data for `purpose`? Optional purposes are off until chosen.

    - analytics, marketing: only with that consent category in force, never under `Sec-GPC: 1`.
    - service_improvement: only with that consent category in force.
    - gallery: showing what the user chose to publish is part of the service they asked for (allowed);
      restriction and the gallery-display objection will veto it here.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose: {purpose}")
    if purpose == "gallery":
        return user_id is not None
    if gpc and purpose in consent.GPC_OPT_OUT:
        return False
    event = consent.current(conn, user_id=user_id, device_id=device_id)
    return bool(event is not None and event.categories.get(purpose, False))


def record_analytics(
    conn: Connection,
    user_id: UUID,
    *,
    feature: str,
    allowed: bool,
    model: str | None = None,
    aspect_ratio: str | None = None,
    edit_action: str | None = None,
) -> bool:
    """Write one usage event when `allowed` (pass `can_process(conn, user_id, "analytics", ...)`); else nothing."""
    if not allowed:
        return False
    conn.execute(
        """insert into analytics_events (user_id, feature, model, aspect_ratio, edit_action)
           values (%s, %s, %s, %s, %s)""",
        (user_id, feature[:64], model[:128] if model else None, aspect_ratio, edit_action),
    )
    return True
