"""Rate limits for routes: `dependencies=[rate_limited("uploads")]` on a route or a router.

The dependency counts the request per client address (before the token is verified, so floods of bad
tokens are throttled too) and then, when the bucket has a per-user budget, per account (which makes
the route an authenticated one). Over budget → 429 `rate_limited` with `Retry-After`. If the counters'
store is unreachable the request is refused with 503 `rate_limiter_unavailable`: every route fails
closed, cheap reads included, because those reads need the same database anyway.

With a per-user budget the address's check, the caller (functions/api/deps.py) and the account's check are one
call to the thread pool (`_admit`), in that order of refusals, and usually one statement
(shared/lifecycle/entry.py): each was a hand-off and a pooled connection of its own (issue 34).
"""

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from fastapi import Depends, Request

from config.limits import BUCKETS, Bucket, Budget
from functions.api.deps import (
    CALLER_ERRORS,
    BearerScheme,
    Caller,
    analysed_once,
    app_db,
    app_settings,
    known_caller,
    remember_caller,
    request_info,
    resolve_caller,
    verify_token,
)
from functions.api.middleware import client_ip, proxy_rule
from functions.api.raises import raises
from shared import ratelimit
from shared.kit.errors import RateLimited
from shared.lifecycle import entry
from shared.ratelimit import Check, Decision

P = ParamSpec("P")
R = TypeVar("R")

# Every limiter dependency `rate_limited` made, with its bucket: lets tests prove each route carries one.
LIMITERS: dict[Any, str] = {}


def _buckets(request: Request) -> dict[str, Bucket]:
    buckets: dict[str, Bucket] = request.app.state.rate_buckets
    return buckets


def _spend(request: Request, check: Check) -> None:
    """Count one request against `check` alone, committed at once; raise `RateLimited` when it is over its budget."""
    _refuse_over(check.run(app_db(request), app_settings(request).pseudonym_key))


def _refuse_over(decision: Decision) -> None:
    if not decision.allowed:
        raise RateLimited(
            f"Too many requests ({decision.limit} per {decision.window_seconds} s); retry later.",
            retry_after=decision.retry_after,
        )


def _check(bucket: str, scope: str, key: str, budget: Budget | None) -> Check | None:
    return Check(f"{bucket}:{scope}", key, budget.limit, budget.window_seconds) if budget is not None else None


def _admit(request: Request, bucket: str) -> None:
    """The address's check, the caller and the account's check, in that order, in one call (one hand-off to the
    thread pool where there were three). The order of refusals is the one three dependencies gave: over the
    address's budget is 429 whatever the token (a flood of bad tokens is counted and throttled), then the caller's
    401/403/428, then the account's 429; a refused caller spends nothing of the account's budget, and the store
    failing is 503 `rate_limiter_unavailable`. The common case is one statement (`entry.enter`); a request the
    caller must write more for, or refuse, takes the full path (`resolve_caller`) as before."""
    budgets = _buckets(request)[bucket]
    db, settings = app_db(request), app_settings(request)
    ip = _check(bucket, "ip", client_ip(request.scope, proxy_rule(settings)), budgets.ip)
    caller: Caller | None = known_caller(request)  # a dependency before the limiter asked for it
    if caller is None:
        try:
            principal = verify_token(request)
        except Exception:
            if ip is not None:  # the address first: once over budget, 429 rather than 401
                _spend(request, ip)
            raise
        user = _check(bucket, "user", str(principal.user_id), budgets.user)
        entered = entry.enter(
            db, principal, request_info(request), path=request.url.path, settings=settings, ip=ip, user=user
        )
        if entered.ip is not None:  # counted by the statement
            _refuse_over(entered.ip)
        if entered.standing is not None:
            remember_caller(request, Caller(principal, entered.standing.account, entered.standing))
            if entered.user is not None:
                _refuse_over(entered.user)
            return
        if ip is not None and entered.ip is None:
            _spend(request, ip)
        caller = resolve_caller(request, principal)
    elif ip is not None:
        _spend(request, ip)
    user = _check(bucket, "user", str(caller.account.id), budgets.user)
    if user is not None:
        _spend(request, user)


# One dependency per bucket, whichever route asks: FastAPI analyses a route's dependencies when the route is declared,
# and a callable it has seen costs no less, but the limiter's own nodes stay few (issue 34: cold start).
_MADE: dict[str, Any] = {}


def rate_limited(bucket: str) -> Any:
    """A FastAPI dependency enforcing `bucket`'s budgets (config/limits.py, overridable by ATELIER_RATE_LIMITS).

    Unknown bucket names fail at import time, so a typo can never mean "unlimited".
    """
    if bucket not in BUCKETS:
        raise KeyError(f"unknown rate-limit bucket {bucket!r}; known: {', '.join(BUCKETS)}")
    if bucket not in _MADE:
        _MADE[bucket] = _limiter(bucket)
    return _MADE[bucket]


def _limiter(bucket: str) -> Any:
    # The database and the settings come from the request's app (functions/api/deps.py says why).
    @raises(RateLimited, ratelimit.RateLimiterUnavailable)
    def per_ip(request: Request) -> None:
        AddressCheck(request, bucket)()

    LIMITERS[per_ip] = bucket
    analysed_once(per_ip)
    if BUCKETS[bucket].user is None:
        return Depends(per_ip)

    # The address's check, the caller and the account's check (`_admit`): one dependency, which is also the bearer
    # scheme the route declares (deps.BearerScheme), where it was a wrapper depending on the admission and the caller.
    # Its refusals are the limiter's and then the caller's, in the order the description listed them.
    admit = raises(RateLimited, ratelimit.RateLimiterUnavailable, *CALLER_ERRORS)(Admission(bucket))
    LIMITERS[admit] = bucket
    analysed_once(admit)
    return Depends(admit)


class Admission(BearerScheme):
    """The limiter of a bucket with a per-account budget (`_admit`). A `def`: FastAPI runs it in the thread pool, one
    hand-off for the three steps; the route's caller dependency then reads the caller it resolved."""

    def __init__(self, bucket: str) -> None:
        super().__init__()
        self.bucket = bucket

    def __call__(self, request: Request) -> None:
        _admit(request, self.bucket)


class AddressCheck:
    """An address-only bucket's check, handed to an `async def` route that does its work in one call to the thread
    pool, so that the check runs first in that call (`then`) rather than in a hand-off of its own: each hand-off was
    a thread switch and a wait for the pool on every request (issue 34: webhooks). The refusals are the limiter's:
    429 `rate_limited` with Retry-After over the budget, 503 `rate_limiter_unavailable` when the store is down,
    raised before `work` runs, so a refused request does nothing else."""

    __slots__ = ("_bucket", "_request")

    def __init__(self, request: Request, bucket: str) -> None:
        self._request, self._bucket = request, bucket

    def __call__(self) -> None:
        """The check alone (blocking: in the thread pool): for a route that refuses something before its work."""
        request = self._request
        address = client_ip(request.scope, proxy_rule(app_settings(request)))
        check = _check(self._bucket, "ip", address, _buckets(request)[self._bucket].ip)
        if check is not None:
            _spend(request, check)

    def then(self, work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """The check, then `work` (blocking: the one call the route makes to the thread pool)."""
        self()
        return work(*args, **kwargs)


def checked_in_handler(bucket: str) -> Any:
    """The limiter of an address-only `bucket` for an `async def` route that runs it itself, first in its one call
    to the thread pool: `check: Annotated[AddressCheck, checked_in_handler("webhooks")]`, then
    `await run_in_threadpool(check.then, work, ...)`, and `await run_in_threadpool(check)` before any refusal the
    route gives on its own, so the limiter's refusals still come first. It is in `LIMITERS`, as `rate_limited`'s."""
    if BUCKETS[bucket].user is not None:
        raise ValueError(f"bucket {bucket!r} has a per-account budget: use rate_limited")
    if bucket not in _DEFERRED:
        _DEFERRED[bucket] = _deferred(bucket)
    return _DEFERRED[bucket]


_DEFERRED: dict[str, Any] = {}


def _deferred(bucket: str) -> Any:
    @raises(RateLimited, ratelimit.RateLimiterUnavailable)
    async def address_check(request: Request) -> AddressCheck:
        return AddressCheck(request, bucket)

    LIMITERS[address_check] = bucket
    analysed_once(address_check)
    return Depends(address_check)


def limiter_buckets(dependant: Any) -> set[str]:
    """The rate-limit buckets anywhere in a route's dependency tree (`route.dependant`)."""
    found = {LIMITERS[dependant.call]} if dependant.call in LIMITERS else set()
    for sub in dependant.dependencies:
        found |= limiter_buckets(sub)
    return found
