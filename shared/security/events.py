"""Security events: repeated authentication failures or access denials from one address or for one account.

Each denial is counted in a fixed window (`ratelimit.count_in_window`; bucket `auth_failures` or `access_denied`,
budgets in config/limits.py). The one request whose hit number equals budget + 1 records the event, so
a flood raises exactly one event per subject and window, and the table's unique key makes that a
database fact even if two containers raced. Subjects are stored as keyed hashes; details carry no raw
personal data (route templates and status codes only).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from psycopg.types.json import Jsonb

from config.limits import Budget
from config.values import value
from shared import ratelimit
from shared.kit.db import Database

Kind = Literal["auth_failures", "access_denied"]
SubjectKind = Literal["ip", "account"]


@value
class SecurityEvent:
    """Repeated authentication failures or access denials for one subject (address or account) in one window."""

    id: uuid.UUID
    at: datetime
    kind: str
    subject_kind: str
    subject_ref: str
    count: int
    window_start: datetime
    window_seconds: int
    details: dict[str, Any]


def record_denial(
    db: Database,
    *,
    kind: Kind,
    subject_kind: SubjectKind,
    subject: str,
    budget: Budget,
    secret: bytes,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> SecurityEvent | None:
    """Count one denial; return the event when this denial is the first one over the budget in its window."""
    bucket = f"{kind}:{subject_kind}"
    decision = ratelimit.count_in_window(
        db, bucket=bucket, key=subject, window_seconds=budget.window_seconds, now=now, secret=secret
    )
    if decision.hits != budget.limit + 1:
        return None
    subject_ref = ratelimit.hash_key(f"security:{subject_kind}", subject, secret)
    with db.transaction() as conn:
        row = conn.execute(
            """insert into security_events
                   (id, at, kind, subject_kind, subject_ref, count, window_start, window_seconds, details)
               values (%s, coalesce(%s::timestamptz, now()), %s, %s, %s, %s, %s, %s, %s)
               on conflict (kind, subject_kind, subject_ref, window_start) do nothing
               returning *""",
            (
                uuid.uuid4(),
                now,
                kind,
                subject_kind,
                subject_ref,
                decision.hits,
                decision.window_start,
                budget.window_seconds,
                Jsonb(details or {}),
            ),
        ).fetchone()
    return SecurityEvent(**row) if row else None


def list_events(db: Database, *, since: datetime | None = None, limit: int = 200) -> list[SecurityEvent]:
    with db.transaction() as conn:
        rows = conn.execute(
            """select * from security_events where %(since)s::timestamptz is null or at >= %(since)s
               order by at desc limit %(limit)s""",
            {"since": since, "limit": limit},
        ).fetchall()
    return [SecurityEvent(**row) for row in rows]
