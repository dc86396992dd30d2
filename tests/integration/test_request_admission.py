"""The request path's admission: the per-address check, the caller and the per-account check, asked in one call and
(usually) two statements (functions/api/ratelimits.py `_admit`, shared/lifecycle/entry.py), refuse in the order the
three separate dependencies did, count what they counted and log what they logged.

Order: over the address's budget is 429 whatever the token (and the account's check is not counted, nothing is
logged); then the caller's refusals (the request is logged, the account's budget untouched); then the account's 429
(the request is logged, as the caller had committed its row before the check refused). The store failing is 503.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from shared import ratelimit
from shared.auth import Principal
from shared.devices.security_log import RequestInfo
from shared.kit.db import Database
from shared.lifecycle import entry
from shared.ratelimit import Check
from tests.support.people import Person, onboard, person
from tests.support.tokens import HS256_SECRET, bearer, hs256

PEER = "testclient"  # the TestClient's peer name: the address's key


def _client(tmp_path: Path, db: Database, **budgets: str) -> TestClient:
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, rate_limit_overrides=budgets)
    return TestClient(create_app(settings, db))


Make = Callable[..., TestClient]


@pytest.fixture
def make(tmp_path: Path, db: Database) -> Iterator[Make]:
    """A client over the app with these budgets (`account.ip="3/60"`...), closed after the test."""
    with ExitStack() as stack:

        def build(**budgets: str) -> TestClient:
            return stack.enter_context(_client(tmp_path, db, **budgets))

        yield build


def _admitted(db: Database, client: TestClient, bucket: str, key: str) -> int:
    secret = client.app.state.settings.pseudonym_key  # type: ignore[attr-defined]
    with db.transaction() as conn:
        row = conn.execute(
            "select cardinality(admitted) as n from rate_limit_log where bucket = %s and key_hash = %s",
            (bucket, ratelimit.hash_key(bucket, key, secret)),
        ).fetchone()
    return int(row["n"]) if row is not None else 0


def _logged(db: Database, user_id: UUID) -> int:
    with db.transaction() as conn:
        row = conn.execute("select count(*) as n from security_log where user_id = %s", (user_id,)).fetchone()
    assert row is not None
    return int(row["n"])


def _counts(db: Database, client: TestClient, who: Person) -> tuple[int, int, int]:
    return (
        _admitted(db, client, "account:ip", PEER),
        _admitted(db, client, "account:user", str(who.id)),
        _logged(db, who.id),
    )


def test_over_the_address_budget_the_account_is_not_counted_and_nothing_is_logged(make: Make, db: Database) -> None:
    client = make(**{"account.ip": "3/60", "account.user": "100/60"})
    who = person()
    statuses = [client.get("/v1/me", headers=who.headers).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]  # the first creates the account (the caller's full path)
    refused = client.get("/v1/me", headers=who.headers)
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert _counts(db, client, who) == (3, 3, 3)
    # A bad token from the same address is refused by the address's budget before it is verified.
    assert client.get("/v1/me", headers=bearer("not-a-token")).status_code == 429


def test_over_the_account_budget_the_request_is_logged_and_answered_429(make: Make, db: Database) -> None:
    client = make(**{"account.ip": "100/60", "account.user": "2/60"})
    who = person()
    statuses = [client.get("/v1/me", headers=who.headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    refused = client.get("/v1/me", headers=who.headers)
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert _counts(db, client, who) == (5, 2, 5)  # each request passed the caller, which logged it


def test_a_refused_caller_spends_nothing_of_the_account_budget_and_is_logged(make: Make, db: Database) -> None:
    client = make(**{"account.ip": "100/60", "account.user": "100/60"})
    who = person()
    onboard(client, who)
    assert client.delete("/v1/me", headers=who.headers).status_code == 202  # locked, awaiting erasure
    before = _counts(db, client, who)
    for _ in range(3):
        refused = client.get("/v1/credits", headers=who.headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "account_locked"
    after = _counts(db, client, who)
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (3, 0, 3)
    # What a locked account may still do takes the common path, and is counted.
    assert client.get("/v1/me", headers=who.headers).status_code == 200
    last = _counts(db, client, who)
    assert (last[0] - after[0], last[1] - after[1], last[2] - after[2]) == (1, 1, 1)


def test_a_bad_token_is_counted_by_address_and_answered_401_under_budget(make: Make, db: Database) -> None:
    client = make(**{"account.ip": "100/60"})
    assert client.get("/v1/me", headers=bearer("not-a-token")).status_code == 401
    assert client.get("/v1/me").status_code == 401
    assert _admitted(db, client, "account:ip", PEER) == 2


def test_the_store_failing_is_503_for_a_valid_token_too(tmp_path: Path) -> None:
    unreachable = Database(f"postgresql://postgres@/postgres?host={tmp_path}&connect_timeout=1", min_size=0, max_size=1)
    unreachable.pool.open(wait=False)
    try:
        settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET)
        with TestClient(create_app(settings, unreachable)) as client:
            for headers in (bearer(hs256()), bearer("not-a-token")):
                response = client.get("/v1/me", headers=headers)
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "rate_limiter_unavailable"
    finally:
        unreachable.close()


def test_request_entry_runs_the_statement_python_builds(db: Database) -> None:
    """Migration 0044 holds a copy of the statement (`request_entry`): its rules are written in Python, each flag its
    own check's SQL. A change to one of them must come with a migration that replaces the function."""
    with db.transaction() as conn:
        row = conn.execute("select prosrc from pg_proc where proname = 'request_entry'").fetchone()
    assert row is not None
    assert " ".join(entry.function_body().split()) in " ".join(row["prosrc"].split())


def test_a_budget_turned_off_counts_nothing_and_admits(make: Make, db: Database) -> None:
    """`enter` with no address check (a null bucket in the function): admitted, nothing counted by address; the
    account's check and the log row as usual."""
    client = make(**{"account.ip": "100/60", "account.user": "100/60"})
    who = person()
    onboard(client, who)
    before = _counts(db, client, who)
    settings = client.app.state.settings  # type: ignore[attr-defined]
    info = RequestInfo("GET", "/v1/me", None, "pytest", None, None)
    user = Check("account:user", str(who.id), 100, 60)
    entered = entry.enter(db, Principal(who.id, who.email), info, path="/v1/me", settings=settings, ip=None, user=user)
    assert entered.standing is not None
    assert entered.ip is None
    assert entered.user is not None
    assert entered.user.allowed
    after = _counts(db, client, who)
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (0, 1, 1)
    # Neither check: the log row alone.
    assert entry.enter(db, Principal(who.id, who.email), info, path="/v1/me", settings=settings, ip=None, user=None)
    last = _counts(db, client, who)
    assert (last[0] - after[0], last[1] - after[1], last[2] - after[2]) == (0, 0, 1)
