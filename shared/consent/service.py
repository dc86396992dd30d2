"""Consent events: recorded signed in or not, each tied to the exact notice (privacy policy) version and hash.

The events are append-only. An anonymous device's choice reaches the user's account by a new
`device_link` event (same categories, same notice) when the device first shows up signed in, so the
original event is never changed.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from config.cookies import ACCOUNT_CATEGORIES, CONSENT_CATEGORIES, COOKIE_CATEGORIES
from config.values import value
from shared.devices.network import IPAddress, truncate_ip
from shared.kit.db.database import Connection
from shared.kit.errors import Unprocessable
from shared.policies import service as policies

DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
GPC_OPT_OUT: frozenset[str] = frozenset({"analytics", "marketing"})  # what Sec-GPC: 1 switches off


class InvalidDeviceId(Unprocessable):
    """A device id is 8-128 characters of letters, digits, '-' and '_'."""

    code = "invalid_device_id"


class UnknownConsentCategory(Unprocessable):
    """The banner asks only about the categories in the cookie registry."""

    code = "unknown_consent_category"


@value
class ConsentEvent:
    """One consent choice as recorded: what was asked, what is in effect, and under which notice."""

    id: UUID
    device_id: str | None  # None for choices made in the account settings (source 'account')
    user_id: UUID | None
    categories: dict[str, bool]  # what is in effect (GPC applied)
    requested: dict[str, bool]  # what the person chose
    gpc: bool
    notice_version: int
    notice_sha256: str
    source: str
    created_at: datetime


_COLUMNS = "id, device_id, user_id, categories, requested, gpc, notice_version, notice_sha256, source, created_at"


def _event(row: dict[str, Any]) -> ConsentEvent:
    return ConsentEvent(**{key: row[key] for key in _COLUMNS.split(", ")})


def check_device_id(device_id: str) -> str:
    if not DEVICE_ID.fullmatch(device_id):  # fullmatch: `$` alone would let a trailing newline through
        raise InvalidDeviceId()
    return device_id


def hash_user_agent(user_agent: str | None) -> str | None:
    return hashlib.sha256(user_agent.encode("utf-8", "replace")).hexdigest() if user_agent else None


def record(
    conn: Connection,
    *,
    device_id: str,
    user_id: UUID | None,
    categories: dict[str, bool],
    notice_version: int,
    ip: IPAddress | None,
    user_agent: str | None,
    gpc: bool,
) -> ConsentEvent:
    """Append one banner choice. Cookie categories not named are off; account choices (service improvement) are
    recorded only when named, so the banner never turns them on or off by omission; `Sec-GPC: 1` turns analytics
    and marketing off."""
    check_device_id(device_id)
    unknown = sorted(set(categories) - set(CONSENT_CATEGORIES))
    if unknown:
        raise UnknownConsentCategory(f"Unknown consent categories: {', '.join(unknown)}.")
    notice = policies.get_version(conn, "privacy", notice_version)
    requested = {name: bool(categories.get(name, False)) for name in COOKIE_CATEGORIES}
    requested |= {name: bool(categories[name]) for name in ACCOUNT_CATEGORIES if name in categories}
    effective = {name: value and not (gpc and name in GPC_OPT_OUT) for name, value in requested.items()}
    row = conn.execute(
        f"""insert into consent_events (device_id, user_id, categories, requested, gpc, notice_policy_id,
                                        notice_version, notice_sha256, ip_truncated, user_agent_sha256, source)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'banner') returning {_COLUMNS}""",
        (
            device_id,
            user_id,
            Jsonb(effective),
            Jsonb(requested),
            gpc,
            notice.id,
            notice.version,
            notice.text_sha256,
            truncate_ip(ip),
            hash_user_agent(user_agent),
        ),
    ).fetchone()
    if row is None:
        raise RuntimeError("insert returned nothing")
    return _event(row)


def record_account_choice(conn: Connection, user_id: UUID, changes: dict[str, bool]) -> ConsentEvent:
    """Append a choice made in the account settings (PUT /v1/me/preferences): the user's categories in force,
    with `changes` applied, against the current privacy policy. It takes effect at once for every device."""
    unknown = sorted(set(changes) - set(CONSENT_CATEGORIES))
    if unknown:
        raise UnknownConsentCategory(f"Unknown consent categories: {', '.join(unknown)}.")
    previous = current(conn, user_id=user_id, device_id=None)
    requested = {name: bool(previous.requested.get(name, False)) if previous else False for name in COOKIE_CATEGORIES}
    for name in ACCOUNT_CATEGORIES:  # carried only once chosen, so "never chosen" keeps the default
        chosen = account_choice(conn, user_id, name)
        if chosen is not None:
            requested[name] = chosen
    requested.update({name: bool(value) for name, value in changes.items()})
    notice = policies.current(conn, "privacy")
    row = conn.execute(
        f"""insert into consent_events (device_id, user_id, categories, requested, gpc, notice_policy_id,
                                        notice_version, notice_sha256, source)
            values (null, %s, %s, %s, false, %s, %s, %s, 'account') returning {_COLUMNS}""",
        (user_id, Jsonb(requested), Jsonb(requested), notice.id, notice.version, notice.text_sha256),
    ).fetchone()
    if row is None:
        raise RuntimeError("insert returned nothing")
    return _event(row)


def current(conn: Connection, *, user_id: UUID | None, device_id: str | None) -> ConsentEvent | None:
    """The choice in force: the user's latest event when signed in; failing that the device's latest
    (signed out: any event of this browser; signed in: its anonymous ones, never another user's)."""
    if user_id is not None:
        row = conn.execute(
            f"select {_COLUMNS} from consent_events where user_id = %s order by created_at desc, id desc limit 1",
            (user_id,),
        ).fetchone()
        if row is not None:
            return _event(row)
    if device_id is not None and DEVICE_ID.match(device_id):
        row = conn.execute(
            f"""select {_COLUMNS} from consent_events
                where device_id = %(device)s
                  and (%(uid)s::uuid is null or user_id is null or user_id = %(uid)s)
                order by created_at desc, id desc limit 1""",
            {"device": device_id, "uid": user_id},
        ).fetchone()
        if row is not None:
            return _event(row)
    return None


def account_choice(conn: Connection, user_id: UUID, category: str) -> bool | None:
    """An account choice (service improvement) in force: the latest of the user's events that names it; None
    when the person never chose (the deployment's default applies)."""
    row = conn.execute(
        """select categories -> %(category)s as chosen from consent_events
            where user_id = %(uid)s and categories ? %(category)s
            order by created_at desc, id desc limit 1""",
        {"uid": user_id, "category": category},
    ).fetchone()
    return None if row is None else bool(row["chosen"])


# Whether `link_device` could write anything for the account `a` (a statement binding %(device_id)s: None for no
# device or an invalid one): the device has an anonymous choice and no link to the account yet. Both are conditions
# of the link's own insert, so when this is false the link writes nothing. The API's caller reads it with the
# account's standing (shared/access/standing.py), so a device linked already costs no statement per request.
LINK_DUE_SQL = """exists (select 1 from consent_events e where e.device_id = %(device_id)s and e.user_id is null)
    and not exists (select 1 from consent_events l where l.device_id = %(device_id)s and l.user_id = a.id)"""


def linkable_device(device_id: str | None) -> str | None:
    """The device id as `link_device` accepts it, else None."""
    return device_id if device_id is not None and DEVICE_ID.fullmatch(device_id) else None


def link_device(conn: Connection, user_id: UUID, device_id: str) -> ConsentEvent | None:
    """Tie a device's anonymous choice to the user who signed in on it (once): a new `device_link` event
    copying the device's latest anonymous event, newer than anything the user recorded. Returns it, if made."""
    if not DEVICE_ID.fullmatch(device_id):  # fullmatch: `$` alone would let a trailing newline through
        return None
    row = conn.execute(
        f"""insert into consent_events (device_id, user_id, categories, requested, gpc, notice_policy_id,
                                        notice_version, notice_sha256, ip_truncated, user_agent_sha256, source)
            select e.device_id, %(uid)s, e.categories, e.requested, e.gpc, e.notice_policy_id,
                   e.notice_version, e.notice_sha256, e.ip_truncated, e.user_agent_sha256, 'device_link'
            from consent_events e
            where e.device_id = %(device)s and e.user_id is null
              and not exists (select 1 from consent_events l where l.device_id = %(device)s and l.user_id = %(uid)s)
              and not exists (select 1 from consent_events u where u.user_id = %(uid)s and u.created_at > e.created_at)
            order by e.created_at desc limit 1
            returning {_COLUMNS}""",
        {"uid": user_id, "device": device_id},
    ).fetchone()
    return _event(row) if row else None
