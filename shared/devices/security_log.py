"""The security log: device and connection data per authenticated request, anonymised after retention."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from shared.devices.network import IPAddress
from shared.devices.useragent import parse_user_agent, preferred_language, screen_resolution
from shared.kit.db.database import COMMIT_WITHOUT_FLUSH, Connection


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


# The row alone, or with its transaction's commit not waiting for the WAL flush (COMMIT_WITHOUT_FLUSH, folded into
# the insert, so it costs no round trip).
_INSERT = """insert into security_log
               (user_id, ip, user_agent, browser, os, device_type, language, screen, method, route)"""
_VALUES = "%s, %s::inet, %s, %s, %s, %s, %s, %s, %s, %s"
_INSERT_DURABLE = f"{_INSERT} values ({_VALUES})"
_INSERT_LAZY = f"{_INSERT} select {_VALUES} from (select {COMMIT_WITHOUT_FLUSH}) as lazy"


def record(conn: Connection, user_id: UUID, info: RequestInfo, *, durable: bool = True) -> None:
    """Log one authenticated request. `durable=False`: the transaction's commit does not wait for its WAL to reach
    the disk (only when nothing else it wrote must survive a database crash: the row is the product's monitoring,
    and a crash of the database may lose the rows of its last ~0.6 s; docs/operating.md)."""
    device = parse_user_agent(info.user_agent)
    conn.execute(
        _INSERT_DURABLE if durable else _INSERT_LAZY,
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


# What anonymising an entry means: the retention sweep (shared/retention/sweeps.py) applies it past the period.
ANONYMISE_SET = """ip = case when security_log.ip is null then null
                 else host(network(set_masklen(security_log.ip,
                      case when family(security_log.ip) = 4 then 24 else 48 end)))::inet end,
       user_agent = null,
       anonymised_at = %(now)s"""
