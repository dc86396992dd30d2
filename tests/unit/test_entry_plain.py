"""The request path's shortcut (shared/lifecycle/entry.py) is taken only when the caller's full path would refuse
nothing and write nothing but the security log row: `Standing.admits` and `entry.plain` against the refusals
themselves (`check_entry`, `check_access`, `gated`) and the upsert's conditions, for every combination of flags."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.access.standing import Standing
from shared.accounts.models import Account
from shared.auth import Principal
from shared.devices.security_log import RequestInfo
from shared.kit.errors import AtelierError
from shared.lifecycle.entry import plain

NOW = datetime(2026, 12, 7, tzinfo=UTC)
ROUTES = [("GET", "/v1/me"), ("GET", "/v1/credits"), ("POST", "/v1/me/deletion/cancel"), ("POST", "/v1/jobs")]
FLAGS = ("blocked", "erasure_pending", "erasure_underway", "policy_pending", "stale", "device_link_due")


def _standing(email: str, **flags: bool) -> Standing:
    account = Account(uuid.uuid4(), email, None, None, None, NOW - timedelta(days=1), NOW)
    return Standing(account=account, onboarded_at=NOW, suspended=False, restricted=False, **flags)


def _refused(standing: Standing, method: str, path: str) -> bool:
    try:
        standing.check_entry()
        standing.check_access(method=method, path=path)
    except AtelierError:
        return True
    return standing.gated(method=method, path=path)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_admits_is_exactly_no_refusal(method: str, path: str) -> None:
    for values in itertools.product((False, True), repeat=len(FLAGS)):
        standing = _standing("a@example.com", **dict(zip(FLAGS, values, strict=True)))
        assert standing.admits(method=method, path=path) is not _refused(standing, method, path), values


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_plain_only_when_nothing_but_the_log_row_is_written_and_nothing_refused(method: str, path: str) -> None:
    for values in itertools.product((False, True), repeat=len(FLAGS)):
        flags = dict(zip(FLAGS, values, strict=True))
        standing = _standing("a@example.com", **flags)
        for email, device in itertools.product(("a@example.com", "b@example.com", None), ("dev-1", None)):
            principal = Principal(user_id=standing.account.id, email=email)
            info = RequestInfo(
                method=method, route=path, ip=None, user_agent=None, accept_language=None, screen=None, device_id=device
            )
            expected = (
                not _refused(standing, method, path)
                and not flags["stale"]
                and email == "a@example.com"
                and not (device is not None and flags["device_link_due"])
            )
            assert plain(standing, principal, info, path) is expected, (values, email, device)
    assert plain(None, Principal(user_id=uuid.uuid4(), email=None), info, path) is False
