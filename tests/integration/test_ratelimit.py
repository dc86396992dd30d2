"""The Postgres rate limiter: exact under concurrency, hashed keys, windows, pruning, failing closed, over HTTP."""

from __future__ import annotations

import math
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.settings import Settings
from functions.api.app import create_app
from functions.api.deps import CurrentCaller
from functions.api.ratelimits import limiter_buckets, rate_limited
from functions.tasks import TASKS
from shared import ratelimit
from shared.kit.db import Database
from shared.tasks.runner import run_task
from tests.support import polar
from tests.support.tokens import HS256_SECRET, bearer, hs256

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_concurrent_checks_allow_exactly_the_limit(db: Database) -> None:
    threads, limit = 40, 7
    barrier = threading.Barrier(threads)
    decisions: list[ratelimit.Decision] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        decision = ratelimit.check(db, bucket="jobs:user", key="user-1", limit=limit, window_seconds=60, now=T0)
        with lock:
            decisions.append(decision)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(d.allowed for d in decisions) == limit
    assert sorted(d.admitted for d in decisions if d.allowed) == list(range(1, limit + 1))
    refused = [d for d in decisions if not d.allowed]
    assert {d.retry_after for d in refused} == {60}  # all admitted at T0: the first frees a place at T0 + 60


def test_windows_keys_and_retry_after(db: Database) -> None:
    def hit(key: str, at: datetime) -> ratelimit.Decision:
        return ratelimit.check(db, bucket="b", key=key, limit=2, window_seconds=60, now=at)

    assert hit("a", T0).allowed
    assert hit("a", T0 + timedelta(seconds=10)).allowed
    third = hit("a", T0 + timedelta(seconds=45))
    assert not third.allowed
    assert third.retry_after == 15
    assert hit("b", T0 + timedelta(seconds=45)).allowed  # another key has its own budget
    assert hit("a", T0 + timedelta(seconds=60)).allowed  # the admission at T0 has left the window
    assert not hit("a", T0 + timedelta(seconds=61)).allowed  # the one at T0 + 10 has not
    assert ratelimit.check(db, bucket="other", key="a", limit=2, window_seconds=60, now=T0).admitted == 1


def test_a_burst_straddling_a_minute_boundary_gets_exactly_the_budget(db: Database) -> None:
    """The fixed windows aligned to the epoch admitted 10 of 100 rapid requests on a 5/60 budget here."""
    start = T0 - timedelta(seconds=2)  # two seconds before a minute boundary, 100 requests over four seconds
    decisions = [
        ratelimit.check(db, bucket="b", key="k", limit=5, window_seconds=60, now=start + timedelta(seconds=i * 0.04))
        for i in range(100)
    ]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 95
    assert decisions[-1].retry_after == 57  # at 3.96 s in: the first admission leaves the window at 60 s


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=40, allow_nan=False), min_size=1, max_size=40),
    offset=st.floats(min_value=-60, max_value=60, allow_nan=False),
    limit=st.integers(min_value=1, max_value=6),
    window=st.sampled_from([1, 10, 60]),
)
def test_no_window_ever_admits_more_than_the_limit_and_nothing_is_refused_needlessly(
    db: Database, gaps: list[float], offset: float, limit: int, window: int
) -> None:
    """Any arrival pattern (bursts, pauses, straddling minute boundaries): the answers are exactly a sliding log's."""
    key = uuid.uuid4().hex
    at = T0 + timedelta(seconds=offset)
    admitted: list[datetime] = []
    for gap in gaps:
        at += timedelta(microseconds=round(gap * 1_000_000))
        in_window = [a for a in admitted if a > at - timedelta(seconds=window)]
        decision = ratelimit.check(db, bucket="p", key=key, limit=limit, window_seconds=window, now=at)
        assert decision.allowed == (len(in_window) < limit)
        if decision.allowed:
            admitted.append(at)
        else:
            frees = sorted(in_window)[len(in_window) - limit] + timedelta(seconds=window)
            assert decision.retry_after == max(1, math.ceil((frees - at).total_seconds()))
    for first in admitted:  # every window of the budget's length, starting at any admission
        assert sum(first <= a < first + timedelta(seconds=window) for a in admitted) <= limit


def test_keys_are_stored_hashed(db: Database) -> None:
    ratelimit.check(db, bucket="public:ip", key="203.0.113.9", limit=5, window_seconds=60, secret=b"k1")
    ratelimit.check(db, bucket="public:ip", key="203.0.113.9", limit=5, window_seconds=60, secret=b"k2")
    with db.transaction() as conn:
        rows = conn.execute("select * from rate_limit_log").fetchall()
    assert len(rows) == 2  # a different secret is a different key
    assert all("203.0.113.9" not in str(row) for row in rows)


def test_a_counter_in_the_callers_transaction_rolls_back_with_it(db: Database) -> None:
    def failing_work() -> None:
        with db.transaction() as conn:
            ratelimit.check(conn, bucket="b", key="k", limit=1, window_seconds=60, now=T0)
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError):
        failing_work()
    assert ratelimit.check(db, bucket="b", key="k", limit=1, window_seconds=60, now=T0).allowed


def test_prune_deletes_only_ended_windows_and_runs_as_a_task(db: Database) -> None:
    ratelimit.check(db, bucket="b", key="old", limit=5, window_seconds=60, now=T0)
    ratelimit.check(db, bucket="b", key="new", limit=5, window_seconds=3600, now=T0 + timedelta(minutes=2))
    assert ratelimit.prune(db, T0 + timedelta(minutes=2)) == 1
    assert run_task(db, TASKS["prune-rate-limits"], now=T0 + timedelta(hours=2)).items == 1
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from rate_limit_log").fetchone() == {"n": 0}


def test_a_busy_keys_expiry_moves_about_once_per_window(db: Database) -> None:
    """Each check rewrites the key's row; `expires_at` is indexed (the prune reads it), so when it moved with every
    admission every check wrote index entries. It moves only when the newest admission would outlive it, then a
    minute (or the window, when shorter) further (migration 0038): never short of the newest admission's window,
    never more than a minute past it."""
    seen: list[datetime] = []
    for second in range(90):
        at = T0 + timedelta(seconds=second)
        assert ratelimit.check(db, bucket="busy", key="k", limit=1000, window_seconds=60, now=at).allowed
        with db.transaction() as conn:
            row = conn.execute("select expires_at from rate_limit_log where bucket = 'busy'").fetchone()
        assert row is not None
        assert at + timedelta(seconds=60) <= row["expires_at"] <= at + timedelta(seconds=120)
        seen.append(row["expires_at"])
    assert seen[0] == T0 + timedelta(seconds=60)  # a key's first admission: exactly its window
    assert len(set(seen)) <= 3, sorted(set(seen))  # 90 s of admissions, 60 s windows: moved twice at most


def _unreachable(tmp_path: Path) -> Database:
    database = Database(f"postgresql://postgres@/postgres?host={tmp_path}&connect_timeout=1", min_size=0, max_size=1)
    database.pool.open(wait=False)
    return database


def test_unreachable_store_fails_closed(tmp_path: Path) -> None:
    unreachable = _unreachable(tmp_path)
    try:
        with pytest.raises(ratelimit.RateLimiterUnavailable):
            ratelimit.check(unreachable, bucket="b", key="k", limit=100, window_seconds=60)
        with TestClient(create_app(Settings(data_dir=tmp_path), unreachable)) as client:
            for path in ("/openapi.json", "/v1/me"):
                response = client.get(path, headers=bearer(hs256()))
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "rate_limiter_unavailable"
    finally:
        unreachable.close()


def test_me_is_limited_per_user_with_retry_after(tmp_path: Path, db: Database) -> None:
    settings = Settings(
        data_dir=tmp_path, supabase_jwt_secret=HS256_SECRET, rate_limit_overrides={"account.user": "3/60"}
    )
    ada, bob = bearer(hs256(email="ada@example.com")), bearer(hs256(email="bob@example.com"))
    with TestClient(create_app(settings, db)) as client:
        statuses = [client.get("/v1/me", headers=ada).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        refused = client.get("/v1/me", headers=ada)
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert client.get("/v1/me", headers=bob).status_code == 200  # budgets are per account


def test_bad_tokens_are_limited_per_address_before_verification(tmp_path: Path, db: Database) -> None:
    settings = Settings(
        data_dir=tmp_path, supabase_jwt_secret=HS256_SECRET, rate_limit_overrides={"account.ip": "4/60"}
    )
    with TestClient(create_app(settings, db)) as client:
        statuses = [client.get("/v1/me", headers=bearer("not-a-token")).status_code for _ in range(6)]
    assert statuses == [401, 401, 401, 401, 429, 429]


def test_unauthenticated_endpoints_are_limited_per_address_but_healthz_is_not(tmp_path: Path, db: Database) -> None:
    settings = Settings(data_dir=tmp_path, rate_limit_overrides={"public.ip": "2/60"})
    with TestClient(create_app(settings, db)) as client:
        assert [client.get("/openapi.json").status_code for _ in range(3)] == [200, 200, 429]
        assert client.get("/docs").status_code == 429
        assert all(client.get("/healthz").status_code == 200 for _ in range(5))


def test_the_webhook_route_refuses_an_address_over_budget_before_its_own_refusals(tmp_path: Path, db: Database) -> None:
    """The webhook route runs its address check inside its own call to the thread pool (issue 34), not as a
    dependency: the refusals and their order are the dependency's. A bad signature and an oversized body spend the
    budget and are refused as themselves under it; over it, 429 with Retry-After whatever the request; the store
    down is 503 `rate_limiter_unavailable` before the signature is looked at."""
    products = tmp_path / "products.toml"
    products.write_text('[[product]]\npolar_product_id = "pack"\nname = "Pack"\nkind = "pack"\ncredits = 10\n')
    settings = Settings(
        data_dir=tmp_path,
        products_file=products,
        polar_webhook_secret=polar.NEW_SECRET,
        rate_limit_overrides={"webhooks.ip": "3/60"},
    )
    body = polar.encode(polar.event("order.paid", polar.order(external_id=str(uuid.uuid4()), product_id="pack")))
    oversized = b" " * 1_000_001  # over the route's 1 MB, under the body cap the middleware enforces first
    with TestClient(create_app(settings, db)) as client:

        def post(content: bytes, headers: dict[str, str]) -> tuple[int, str]:
            response = client.post("/webhooks/polar", content=content, headers=headers)
            return response.status_code, response.json()["error"]["code"] if response.status_code >= 400 else ""

        unsigned = {"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
        assert post(body, unsigned) == (403, "invalid_signature")
        assert post(oversized, polar.sign(oversized, polar.NEW_SECRET)) == (413, "payload_too_large")
        assert post(body, polar.sign(body, polar.NEW_SECRET))[0] == 200
        for content in (body, oversized):
            assert post(content, polar.sign(content, polar.NEW_SECRET)) == (429, "rate_limited")
        assert post(body, unsigned) == (429, "rate_limited")
        refused = client.post("/webhooks/polar", content=body, headers=polar.sign(body, polar.NEW_SECRET))
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    unreachable = _unreachable(tmp_path)
    try:
        with TestClient(create_app(settings, unreachable)) as client:
            for content, headers in ((body, unsigned), (oversized, {})):
                response = client.post("/webhooks/polar", content=content, headers=headers)
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "rate_limiter_unavailable"
    finally:
        unreachable.close()


def test_unknown_buckets_and_budgets_are_errors_not_unlimited(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        rate_limited("job")  # a typo never means "no limit"
    with pytest.raises(ValueError, match="unknown rate-limit budget"):
        Settings(data_dir=tmp_path, rate_limit_overrides={"jobz.user": "1/60"})
    with pytest.raises(ValueError, match="limit >= 1"):
        Settings(data_dir=tmp_path, rate_limit_overrides={"jobs.user": "0/60"})


def test_a_burst_of_job_creations_passes_the_budget_and_refused_ones_never_reach_the_handler(
    tmp_path: Path, db: Database
) -> None:
    """What the jobs route gets from `dependencies=[rate_limited("jobs")]`: 100 concurrent creations, budget 10."""
    reached: list[str] = []
    lock = threading.Lock()
    router = APIRouter(prefix="/v1/scratch")

    @router.post("/jobs", dependencies=[rate_limited("jobs")])
    def create_job(caller: CurrentCaller) -> dict[str, str]:
        with lock:
            reached.append(str(caller.account.id))  # where a real route would hold credits
        return {"status": "queued"}

    settings = Settings(
        data_dir=tmp_path, supabase_jwt_secret=HS256_SECRET, rate_limit_overrides={"jobs.user": "10/3600"}
    )
    app = create_app(settings, db)
    app.include_router(router)
    token = bearer(hs256(email="burst@example.com"))
    statuses: list[int] = []
    retry_after: list[str] = []
    with TestClient(app) as client:
        client.get("/v1/me", headers=token)  # the account exists before the burst
        barrier = threading.Barrier(100)

        def create() -> None:
            barrier.wait()
            response = client.post("/v1/scratch/jobs", headers=token, json={"prompt": "a lighthouse"})
            with lock:
                statuses.append(response.status_code)
                if response.status_code == 429:
                    retry_after.append(response.headers["retry-after"])

        threads = [threading.Thread(target=create) for _ in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses.count(200) == 10
    assert statuses.count(429) == 90
    assert len(reached) == 10
    assert all(int(value) >= 1 for value in retry_after)


# --- every route is limited ----------------------------------------------------------------------------------------

UNLIMITED = {"/healthz"}  # the platform's liveness probe: polled by the platform, and it must answer when others 429


def routes_without_limiter(app: FastAPI) -> list[str]:
    """Served routes (from the app itself, so a new one cannot slip by) with no `rate_limited(...)` dependency."""
    missing = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if route.path in UNLIMITED or dependant is None:
            continue
        if not limiter_buckets(dependant):
            missing += [f"{method} {route.path}" for method in sorted(route.methods or ())]
    return missing


def test_every_route_carries_a_rate_limit(app: FastAPI) -> None:
    assert routes_without_limiter(app) == []


def test_a_route_without_a_limiter_is_caught(app: FastAPI) -> None:
    forgot = APIRouter()

    @forgot.get("/v1/scratch/unlimited")
    def unlimited(caller: CurrentCaller) -> dict[str, str]:
        return {"id": str(caller.account.id)}

    @forgot.get("/v1/scratch/limited", dependencies=[rate_limited("account")])
    def limited(caller: CurrentCaller) -> dict[str, str]:
        return {"id": str(caller.account.id)}

    app.include_router(forgot)
    assert routes_without_limiter(app) == ["GET /v1/scratch/unlimited"]


def test_buckets_fit_the_routes(app: FastAPI) -> None:
    """Uploads and attachments spend the upload budget, the webhook its own; anonymous routes the public one."""
    buckets = {
        (method, route.path): limiter_buckets(route.dependant)
        for route in iter_route_contexts(app.routes)
        if getattr(route, "dependant", None) is not None
        for method in route.methods or ()
    }
    assert buckets[("POST", "/v1/uploads")] == {"uploads"}
    assert buckets[("POST", "/v1/support/tickets")] == {"uploads"}
    assert buckets[("POST", "/v1/support/tickets/{ticket_id}/messages")] == {"uploads"}
    assert buckets[("POST", "/webhooks/polar")] == {"webhooks"}
    for anonymous in ("/v1/gallery", "/v1/models", "/v1/policies/current", "/v1/billing/products", "/openapi.json"):
        assert buckets[("GET", anonymous)] == {"public"}
    assert buckets[("GET", "/v1/me")] == {"account"}


def test_a_check_on_its_own_commits_without_waiting_for_the_disk_and_changes_nothing_else(database_url: str) -> None:
    """The asynchronous commit is the check's own: the next transaction on the same pooled connection, and a check
    joining a caller's transaction, keep the server's durable default. The admission itself is committed."""
    db = Database(database_url, min_size=1, max_size=1).open()  # one connection: the next user gets the same
    try:
        decision = ratelimit.check(db, bucket="t:ip", key="k", limit=5, window_seconds=60)
        assert decision.allowed
        assert decision.admitted == 1
        with db.transaction() as conn:
            assert conn.execute("show synchronous_commit").fetchone() == {"synchronous_commit": "on"}
            ratelimit.check(conn, bucket="t:ip", key="k", limit=5, window_seconds=60)
            assert conn.execute("show synchronous_commit").fetchone() == {"synchronous_commit": "on"}
        with db.transaction() as conn:
            row = conn.execute("select cardinality(admitted) as n from rate_limit_log").fetchone()
        assert row == {"n": 2}
    finally:
        db.close()
