"""The one guard asked before any optional processing: `can_process(conn, user_id, purpose)`.

In order: an account that is restricted (PUT /v1/me/restriction) or awaiting erasure (DELETE /v1/me) is
processed for nothing optional; then the person's own choices — consent events for analytics, marketing
and service improvement (the cookie banner and PUT /v1/me/preferences both write them), the gallery-display
choice for the gallery — and the Global Privacy Control signal. Optional purposes are off until chosen.

The gallery lists many owners in one query, so the same rule also exists as a SQL condition
(`GALLERY_OWNER_SQL`) that `shared/media/repo.py` puts in its gallery query; `can_process(..., "gallery")`
evaluates that very condition for one account, so the two cannot disagree. Batch jobs (marketing emails,
service-improvement datasets) select their people with `allowed_users`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args
from uuid import UUID

from shared.accounts.preferences import improvement_on_by_default
from shared.consent import service as consent
from shared.kit.db.database import Connection, Statement

Purpose = Literal["analytics", "marketing", "gallery", "service_improvement"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)

# Whose published outputs the gallery may show, for a query joining `accounts a` and `left join preferences p`.
# A missing preferences row means the default (shown); restriction and a pending erasure withdraw everything.
GALLERY_OWNER_SQL = (
    "(a.restricted_at is null"
    " and not exists (select 1 from account_erasures e where e.user_id = a.id)"
    " and coalesce(p.gallery_display, true))"
)

# Restricted or awaiting erasure: nothing optional, whatever was chosen before.
_HELD_SQL = """select a.restricted_at is not null
                      or exists (select 1 from account_erasures e where e.user_id = a.id) as held
                 from accounts a where a.id = %s"""


# A consent category (analytics, marketing) in force for the account `a`, as `consent.current` reads it: the
# account's latest event if it has one, else the latest event of the device (`%(device)s`, NULL for none) that is
# anonymous or the account's own; the category on only when that event has it true. Not held (restricted or
# awaiting erasure) as in `_HELD_SQL`. `can_process` evaluates this; `record_analytics_if_allowed` the same
# condition for analytics, written out in `analytics_record_if_consented` (migration 0043;
# tests/integration/test_analytics_guard.py holds both to the parts).
_CONSENTED_SQL = """a.restricted_at is null
    and not exists (select 1 from account_erasures e where e.user_id = a.id)
    and coalesce(
        (select coalesce(c.categories -> %(purpose)s = 'true'::jsonb, false) from consent_events c
          where c.user_id = a.id order by c.created_at desc, c.id desc limit 1),
        (select coalesce(c.categories -> %(purpose)s = 'true'::jsonb, false) from consent_events c
          where c.device_id = %(device)s and (c.user_id is null or c.user_id = a.id)
          order by c.created_at desc, c.id desc limit 1),
        false)"""


_COOKIE_PURPOSES: frozenset[str] = frozenset({"analytics", "marketing"})  # decided by a consent event


def _device(device_id: str | None) -> str | None:
    """The device id `consent.current` would look up (a malformed one is none)."""
    return device_id if device_id is not None and consent.DEVICE_ID.match(device_id) else None


def is_held(conn: Connection, user_id: UUID) -> bool:
    """True when the account is restricted or awaiting erasure (or does not exist)."""
    row = conn.execute(_HELD_SQL, (user_id,)).fetchone()
    return row is None or bool(row["held"])


def _gallery_visible(conn: Connection, user_id: UUID) -> bool:
    row = conn.execute(
        f"""select {GALLERY_OWNER_SQL} as visible
              from accounts a left join preferences p on p.user_id = a.id where a.id = %s""",
        (user_id,),
    ).fetchone()
    return bool(row and row["visible"])


def _consented(conn: Connection, user_id: UUID, purpose: Purpose, device_id: str | None) -> bool:
    row = conn.execute(
        f"select {_CONSENTED_SQL} as allowed from accounts a where a.id = %(uid)s",
        {"uid": user_id, "purpose": purpose, "device": _device(device_id)},
    ).fetchone()
    return bool(row and row["allowed"])


def can_process(
    conn: Connection,
    user_id: UUID | None,
    purpose: Purpose,
    *,
    device_id: str | None = None,
    gpc: bool = False,
) -> bool:
    """May we process this person's data for `purpose`? Optional purposes are off until chosen.

    - any purpose: never for a restricted account or one awaiting erasure;
    - analytics, marketing: only with that consent category in force, never under `Sec-GPC: 1`;
    - service_improvement: that consent category in force, else ATELIER_IMPROVEMENT_DEFAULT (opt_in: off);
    - gallery: showing what the user chose to publish is the service they asked for, unless they object
      (gallery_display off).
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose: {purpose}")
    if purpose == "gallery":
        return user_id is not None and _gallery_visible(conn, user_id)
    if gpc and purpose in consent.GPC_OPT_OUT:
        return False
    if user_id is not None and purpose in _COOKIE_PURPOSES:  # held and consented in one statement
        return _consented(conn, user_id, purpose, device_id)
    if user_id is not None and is_held(conn, user_id):
        return False
    if purpose == "service_improvement":  # an account choice, never a device's: asked on its own
        chosen = consent.account_choice(conn, user_id, purpose) if user_id is not None else None
        return improvement_on_by_default() if chosen is None else chosen
    event = consent.current(conn, user_id=user_id, device_id=device_id)
    return bool(event is not None and event.categories.get(purpose, False))


def allowed_users(conn: Connection, user_ids: Iterable[UUID], purpose: Purpose) -> list[UUID]:
    """The subset of `user_ids` that `can_process` allows for `purpose` (for batch sends and datasets)."""
    return [user_id for user_id in user_ids if can_process(conn, user_id, purpose)]


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
    """Write one usage event when `allowed` (pass `can_process(conn, user_id, "analytics", ...)`); else nothing.

    The hold is checked again here, so a caller that computed `allowed` too early still writes nothing for a
    restricted account."""
    if not allowed or is_held(conn, user_id):
        return False
    conn.execute(
        """insert into analytics_events (user_id, feature, model, aspect_ratio, edit_action)
           values (%s, %s, %s, %s, %s)""",
        (user_id, feature[:64], model[:128] if model else None, aspect_ratio, edit_action),
    )
    return True


def record_analytics_if_allowed(
    conn: Connection,
    user_id: UUID,
    *,
    device_id: str | None,
    gpc: bool,
    feature: str,
    model: str | None = None,
    aspect_ratio: str | None = None,
    edit_action: str | None = None,
) -> bool:
    """`record_analytics(..., allowed=can_process(conn, user_id, "analytics", ...))` in one statement
    (`analytics_if_allowed`); True when the event was written."""
    statement = analytics_if_allowed(
        user_id,
        device_id=device_id,
        gpc=gpc,
        feature=feature,
        model=model,
        aspect_ratio=aspect_ratio,
        edit_action=edit_action,
    )
    return statement is not None and conn.execute(statement.sql, statement.params).fetchone() is not None


_RECORD_ANALYTICS_SQL = """select 1 from analytics_record_if_consented(
    %(uid)s::uuid, %(device)s::text, %(feature)s::text, %(model)s::text, %(aspect_ratio)s::text,
    %(edit_action)s::text) as wrote where wrote"""


def analytics_if_allowed(
    user_id: UUID,
    *,
    device_id: str | None,
    gpc: bool,
    feature: str,
    model: str | None = None,
    aspect_ratio: str | None = None,
    edit_action: str | None = None,
) -> Statement | None:
    """The statement that records one usage event where the guard allows analytics (the same SQL condition as
    `can_process`, so asking and recording are one statement where the two paid two to four), for a caller that
    sends it with its own (a job's admission: `shared.jobs.service.submit(along=...)`). None under `Sec-GPC: 1`:
    analytics is among what GPC switches off, so nothing is asked at all. Answers one row when it wrote.

    The insert is a PL/pgSQL function (`analytics_record_if_consented`, migration 0043: `_CONSENTED_SQL` for
    analytics), so its plan is kept for the connection's life rather than made again for every request."""
    if gpc:
        return None
    return Statement(
        _RECORD_ANALYTICS_SQL,
        {
            "uid": user_id,
            "device": _device(device_id),
            "feature": feature[:64],
            "model": model[:128] if model else None,
            "aspect_ratio": aspect_ratio,
            "edit_action": edit_action,
        },
    )
