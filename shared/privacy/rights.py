"""The rights kept at once through the API: rectification, restriction and objection.

Each one is registered (shared/privacy/requests.py: opened and completed in the same transaction, since it
takes effect immediately) and audited by field name only, never by value.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from config.values import value
from shared import audit
from shared.accounts import preferences as prefs
from shared.accounts import repo as accounts
from shared.accounts.models import Account, PreferenceChange, ProfileCorrection
from shared.kit.db.database import Connection
from shared.kit.errors import NotFound, Unprocessable
from shared.privacy import requests

_MAX_NAME = 200
_MAX_URL = 2000


@value
class Restriction:
    restricted: bool
    since: datetime | None


def _kept_at_once(conn: Connection, user_id: UUID, kind: requests.RequestKind, now: datetime) -> None:
    request = requests.open_request(conn, user_id, kind, now=now)
    requests.complete_request(conn, request.id, now=now)


def rectify(conn: Connection, user_id: UUID, correction: ProfileCorrection, *, now: datetime) -> Account:
    """Correct the account's names or avatar (None clears one). Audited by field name only."""
    clean: dict[str, str | None] = {}
    for name, given in correction.changes().items():
        text = given.strip() if isinstance(given, str) else None
        if name == "avatar_url" and text and (not text.startswith("https://") or len(text) > _MAX_URL):
            raise Unprocessable("avatar_url must be an https URL.")
        if name != "avatar_url" and text and len(text) > _MAX_NAME:
            raise Unprocessable(f"{name} is at most {_MAX_NAME} characters.")
        clean[name] = text or None
    if clean:
        columns = sorted(clean)
        accounts.set_profile(conn, user_id, clean)
        _kept_at_once(conn, user_id, "rectification", now)
        audit.record(
            conn, actor="user", action="account.rectified", subject_id=user_id, details={"fields": ",".join(columns)}
        )
    account = accounts.get(conn, user_id)
    if account is None:
        raise NotFound("No such account.")
    return account


def restriction(conn: Connection, user_id: UUID) -> Restriction:
    since = accounts.restricted_since(conn, user_id)
    return Restriction(since is not None, since)


def set_restriction(
    conn: Connection, user_id: UUID, *, restricted: bool, reason: str | None, now: datetime
) -> Restriction:
    """Restrict (data kept, nothing optional processed: see shared/access/guard.py) or lift it."""
    if reason is not None and not 1 <= len(reason.strip()) <= 500:
        raise Unprocessable("A reason is 1 to 500 characters.")
    before = restriction(conn, user_id)
    if restricted:
        accounts.set_restricted(conn, user_id, since=now, reason=reason.strip() if reason else None)
    else:
        accounts.lift_restriction(conn, user_id)
    if before.restricted != restricted:
        _kept_at_once(conn, user_id, "restriction", now)
        audit.record(
            conn,
            actor="user",
            action="restriction.set" if restricted else "restriction.lifted",
            subject_id=user_id,
            details={"reason_given": reason is not None},
        )
    return restriction(conn, user_id)


def set_preferences(
    conn: Connection,
    user_id: UUID,
    change: PreferenceChange,
    *,
    now: datetime,
    improvement_default: prefs.ImprovementDefault | None = None,
) -> prefs.Preferences:
    """Objection and choices: change preferences at once; switching anything off is registered as an objection."""
    before = prefs.get_preferences(conn, user_id, improvement_default=improvement_default)
    after = prefs.set_preferences(conn, user_id, improvement_default=improvement_default, **change.changes())
    if any(getattr(before, name) and not getattr(after, name) for name in prefs.NAMES):
        _kept_at_once(conn, user_id, "objection", now)
    return after
