"""The security log: device and connection data per authenticated request, anonymised after retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from shared.devices.network import IPAddress
from shared.devices.useragent import parse_user_agent, preferred_language, screen_resolution
from shared.kit.db.database import Connection, Database


@dataclass(frozen=True)
class RequestInfo:
    """What the edge knows about one request; built from the ASGI scope and headers."""

    method: str
    route: str  # the route template (`/v1/jobs/{id}`), never the concrete path
    ip: IPAddress | None
    user_agent: str | None
    accept_language: str | None
    screen: str | None
    device_id: str | None = None
    gpc: bool = False


def record(conn: Connection, user_id: UUID, info: RequestInfo) -> None:
    device = parse_user_agent(info.user_agent)
    conn.execute(
        """insert into security_log
               (user_id, ip, user_agent, browser, os, device_type, language, screen, method, route)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            user_id,
            str(info.ip) if info.ip is not None else None,
            info.user_agent[:512] if info.user_agent else None,
            device.browser,
            device.os,
            device.device_type,
            preferred_language(info.accept_language),
            screen_resolution(info.screen),
            info.method[:10],
            info.route[:200],
        ),
    )


# What anonymising an entry means (shared with the retention sweep in shared/retention/sweeps.py).
ANONYMISE_SET = """ip = case when security_log.ip is null then null
                 else host(network(set_masklen(security_log.ip,
                      case when family(security_log.ip) = 4 then 24 else 48 end)))::inet end,
       user_agent = null,
       anonymised_at = %(now)s"""

_ANONYMISE = f"""
with due as (
    select id from security_log
    where anonymised_at is null and at < %(cutoff)s
    order by at
    limit %(limit)s
    for update skip locked
)
update security_log
   set {ANONYMISE_SET}
  from due where security_log.id = due.id
"""


def anonymise_security_log(conn: Connection, *, now: datetime, limit: int = 1000, retention_days: int = 90) -> int:
    """Cut the IP of up to `limit` entries older than the retention period to its /24 or /48 and drop the raw
    user agent; returns how many. Run repeatedly until it returns 0; concurrent runs skip each other's rows."""
    cursor = conn.execute(_ANONYMISE, {"cutoff": now - timedelta(days=retention_days), "limit": limit, "now": now})
    return cursor.rowcount


def run_retention(db: Database, *, now: datetime, retention_days: int, batch: int = 1000) -> int:
    """The scheduled retention step: anonymise every due entry, one short transaction per batch; returns the total."""
    total = 0
    while True:
        with db.transaction() as conn:
            done = anonymise_security_log(conn, now=now, limit=batch, retention_days=retention_days)
        total += done
        if done < batch:
            return total
