"""The request path's admission in one statement: what an authenticated API request asks of Postgres (issue 34).

An authenticated request passes the per-address rate check (before its token counts: floods of bad tokens are
throttled), the caller (the account with its standing, its refusals, the security log row) and the per-account rate
check, in that order. Asked one by one that was six round trips on three pooled connections: the address's check
(autocommit), the caller's transaction (BEGIN, the standing, the security log row, COMMIT) and the account's check
(autocommit). `enter` asks the same in one statement, with autocommit, for a token already verified:

- the account with its standing (`standing.READ_SQL`, a plain read), and whether it is `plain`: nothing in it refuses
  this route or asks the caller to write more than the security log row (the same rule in SQL, `_PLAIN_SQL`, and
  checked against `plain` on every answer);
- only then the address's check; the security log row only when that check admitted the request and the account
  still exists (its foreign key's lock); the account's check only when the row was written (so it is never counted
  when the address's check refused, nor for a refused caller).

Its commit does not wait for the WAL flush, as each check and the log row did alone (the rows of a database crash's
last ~0.6 s may be lost; docs/operating.md). Anything else (a new account, one due its hourly refresh or whose email
changed, a refusal, the policy gate, a device's consent link to write) counted and wrote nothing here: `Entry(None)`,
and the edge takes the caller's full path (`signup.sign_in` in a transaction) as before, the address's check first.
The store failing is `RateLimiterUnavailable` (503, fail closed), as each check alone answered.

The statement is sent as a PL/pgSQL function, `request_entry` (migration 0044), which runs `STATEMENT` with each
`%(name)s` written `p_name`: nothing is prepared through Supabase's transaction pooler, so the statement sent as text
was parsed and planned on every request (~0.4 ms of the backend's ~1.2 ms), while a PL/pgSQL function keeps its plan
for the session. The rules stay written here and where each belongs; the migration holds a copy that a test holds
equal to `STATEMENT` (tests/integration/test_request_admission.py), so changing a fragment means a migration that
replaces the function.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from config.settings import Settings
from config.values import value
from shared import ratelimit
from shared.access import standing as standings
from shared.access.locks import locked_may
from shared.access.standing import Standing
from shared.auth import Principal
from shared.devices import security_log
from shared.devices.security_log import RequestInfo
from shared.kit.db import Database
from shared.kit.db.database import COMMIT_WITHOUT_FLUSH
from shared.policies.service import is_gate_exempt
from shared.ratelimit import Check, Decision, RateLimiterUnavailable

_FIELDS = ("allowed", "admitted", "frees_at", "now")


@value
class Entry:
    """What `enter` did. `standing` None: the caller's full path must run; `ip` is the address's decision when its
    check ran (it is then counted: the full path must not count it again), `user` the account's."""

    standing: Standing | None
    ip: Decision | None = None
    user: Decision | None = None


def plain(standing: Standing | None, principal: Principal, info: RequestInfo, path: str) -> bool:
    """True when the caller's full path would write nothing but the security log row and refuse nothing: the account
    exists, is not due its activity refresh, its email is the token's, no device consent link is due, and none of
    the caller's refusals (blocked, erasure under way or pending, the policy gate) applies to this route."""
    return (
        standing is not None
        and not standing.stale
        and standing.account.email == principal.email
        and not (info.device_id and standing.device_link_due)
        and standing.admits(method=info.method, path=path)
    )


# `plain` in SQL, over the standing's columns (`s0`): the statement takes the common path only when it holds. The
# route's exemptions (the lock's, the policy gate's) depend on the method and path alone, so Python passes them in.
# `enter` checks that it agrees with `plain` (tests/unit/test_entry_plain.py holds `plain` to the refusals).
_PLAIN_SQL = """not s0.stale and s0.email is not distinct from %(token_email)s and not s0.device_link_due
    and not s0.blocked and not s0.erasure_underway
    and not (s0.erasure_pending and not %(locked_may)s) and not (s0.policy_pending and not %(gate_exempt)s)"""


def _check_source(name: str, when: str) -> str:
    """The check `name` as a row source, asked only `when`; a budget turned off (an override: its bucket is null)
    answers admitted, nothing counted."""
    given = f"%({name}_bucket)s is not null"
    return (
        f"select * from {Check.sql(name)} where {given} and {when}"
        f" union all select true, null::integer, null::timestamptz, null::timestamptz where not {given} and {when}"
    )


def _statement() -> str:
    """The one statement (see the module): the body of `request_entry`, migration 0044."""
    account_exists = "exists (select 1 from accounts a where a.id = %(log_0)s for key share of a)"
    ctes = [
        f"s as materialized (select s0.*, ({_PLAIN_SQL}) as plain from ({standings.READ_SQL}) s0)",
        f"ip as materialized ({_check_source('ip', '(select s.plain from s)')})",
        f"logged as ({security_log.insert_select(f'from ip where ip.allowed and {account_exists}')})",
        f"usr as materialized ({_check_source('usr', 'exists (select 1 from logged)')})",
    ]
    selected = [f"{COMMIT_WITHOUT_FLUSH} as durability", "(select count(*) from logged) as logged", "s.*"]
    selected += [f"{name}.{field} as {name}_{field}" for name in ("ip", "usr") for field in _FIELDS]
    source = "(select) one left join s on true left join ip on true left join usr on true"
    return f"with {', '.join(ctes)} select {', '.join(selected)} from {source}"


STATEMENT = _statement()

# `request_entry`'s parameters (migration 0044), in its signature's order, with their types: `_statement`'s
# parameters, each `%(name)s` there being `p_name` in the function.
_PARAMETERS = {
    "account_id": "uuid",
    "token_email": "text",
    "block_hash": "text",
    "now": "timestamptz",
    "device_id": "text",
    "locked_may": "boolean",
    "gate_exempt": "boolean",
    **{f"log_{n}": "uuid" if n == 0 else "text" for n in range(10)},
    **{
        f"{name}_{field}": kind
        for name in ("ip", "usr")
        for field, kind in (("bucket", "text"), ("key", "text"), ("window", "integer"), ("limit", "integer"))
    },
}
_CALL = f"select * from request_entry({', '.join(f'%({name})s::{kind}' for name, kind in _PARAMETERS.items())})"
_UNCHECKED = {f"{name}_{field}": None for name in ("ip", "usr") for field in ("bucket", "key", "window", "limit")}


class _AsArguments(dict[str, str]):
    """Each `%(name)s` of a statement formatted with it becomes `p_name`, the function's argument."""

    def __missing__(self, name: str) -> str:
        return f"p_{name}"


@cache
def function_body() -> str:
    """What `request_entry` must run: `STATEMENT` with its parameters named as the function's (the migration holds
    a copy; tests/integration/test_request_admission.py keeps the two equal)."""
    return STATEMENT % _AsArguments()


def _decision(check: Check, row: dict[str, Any], name: str) -> Decision:
    return check.decision({field: row[f"{name}_{field}"] for field in _FIELDS})


def enter(
    db: Database,
    principal: Principal,
    info: RequestInfo,
    *,
    path: str,
    settings: Settings,
    ip: Check | None,
    user: Check | None,
) -> Entry:
    """The standing and, when it is `plain`, the checks and the security log row, in one statement: see the module.
    `path`: the request's own path (the lock and the policy gate exempt some), `info` its method and route."""
    params: dict[str, object] = {
        **standings.read_params(principal.user_id, settings=settings, device_id=info.device_id),
        "account_id": principal.user_id,
        "token_email": principal.email,
        "locked_may": locked_may(info.method, path),
        "gate_exempt": is_gate_exempt(info.method, path),
        **security_log.params(principal.user_id, info),
        **_UNCHECKED,
    }
    if ip is not None:
        params |= ip.params("ip", settings.pseudonym_key)
    if user is not None:
        params |= user.params("usr", settings.pseudonym_key)
    try:
        with db.autocommit(timeout=ratelimit.CONNECTION_TIMEOUT_SECONDS) as conn:
            row = conn.execute(_CALL, params).fetchone()
    except ratelimit.UNAVAILABLE as exc:
        raise RateLimiterUnavailable() from exc
    if row is None:  # pragma: no cover - the statement always answers one row
        raise RateLimiterUnavailable()
    standing = standings.from_row(row) if row["id"] is not None else None
    if bool(row["plain"]) is not plain(standing, principal, info, path):  # the SQL and `plain` must agree
        raise RuntimeError("the request path's shortcut disagrees with the caller's rules")
    if not row["plain"]:  # nothing counted, nothing written: the caller's full path
        return Entry(None)
    ip_decision = _decision(ip, row, "ip") if ip is not None else None
    if not row["logged"]:  # refused by the address's check, or the account went meanwhile (the full path says how)
        return Entry(None, ip_decision)
    user_decision = _decision(user, row, "usr") if user is not None else None
    return Entry(standing, ip_decision, user_decision)
