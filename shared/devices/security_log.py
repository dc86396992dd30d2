"""The security log: device and connection data per authenticated request, anonymised after retention."""

from __future__ import annotations

from uuid import UUID

from config.values import value
from shared.devices.network import IPAddress
from shared.devices.useragent import parse_user_agent, preferred_language, screen_resolution
from shared.kit.db.database import COMMIT_WITHOUT_FLUSH, Connection


@value
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


def _values(user_id: UUID, info: RequestInfo) -> tuple[object, ...]:
    device = parse_user_agent(info.user_agent)
    return (
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
    )


def record(conn: Connection, user_id: UUID, info: RequestInfo, *, durable: bool = True) -> None:
    """Log one authenticated request. `durable=False`: the transaction's commit does not wait for its WAL to reach
    the disk (only when nothing else it wrote must survive a database crash: the row is the product's monitoring,
    and a crash of the database may lose the rows of its last ~0.6 s; docs/operating.md)."""
    conn.execute(_INSERT_DURABLE if durable else _INSERT_LAZY, _values(user_id, info))


# The row as part of a bigger statement (`insert_select`): its values as named parameters `log_0` ... `log_9`.
_NAMED = ", ".join(
    f"%(log_{n})s::inet" if column == "%s::inet" else f"%(log_{n})s" for n, column in enumerate(_VALUES.split(", "))
)


def insert_select(source: str) -> str:
    """The insert of one request's row for a data-modifying CTE of a bigger statement, written only when `source` (a
    FROM clause and its WHERE) yields a row; its parameters are `params`'s (the account id is `%(log_0)s`). The
    request path's admission (shared/lifecycle/entry.py) writes the row only when the address's check admitted the
    request; its durability is that statement's (lazy, as `record(durable=False)`)."""
    return f"{_INSERT} select {_NAMED} {source} returning 1"


def params(user_id: UUID, info: RequestInfo) -> dict[str, object]:
    """The named parameters of `insert_select`."""
    return {f"log_{n}": value for n, value in enumerate(_values(user_id, info))}


# What anonymising an entry means: the retention sweep (shared/retention/sweeps.py) applies it past the period.
ANONYMISE_SET = """ip = case when security_log.ip is null then null
                 else host(network(set_masklen(security_log.ip,
                      case when family(security_log.ip) = 4 then 24 else 48 end)))::inet end,
       user_agent = null,
       anonymised_at = %(now)s"""
