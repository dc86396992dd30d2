"""Rate limits for routes: `dependencies=[rate_limited("uploads")]` on a route or a router.

The dependency counts the request per client address (before the token is verified, so floods of bad
tokens are throttled too) and then, when the bucket has a per-user budget, per account (which makes
the route an authenticated one). Over budget → 429 `rate_limited` with `Retry-After`. If the counters'
store is unreachable the request is refused with 503 `rate_limiter_unavailable`: every route fails
closed, cheap reads included, because those reads need the same database anyway.
"""

from typing import Annotated, Any

from fastapi import Depends, Request

from config.limits import BUCKETS, Bucket, Budget
from functions.api.deps import AppSettings, CurrentCaller, Db, analysed_once, app_db, app_settings
from functions.api.middleware import client_ip, proxy_rule
from functions.api.raises import raises
from shared import ratelimit
from shared.kit.errors import RateLimited

# Every limiter dependency `rate_limited` made, with its bucket: lets tests prove each route carries one.
LIMITERS: dict[Any, str] = {}


def _buckets(request: Request) -> dict[str, Bucket]:
    buckets: dict[str, Bucket] = request.app.state.rate_buckets
    return buckets


def enforce(db: Db, settings: AppSettings, *, bucket: str, scope: str, key: str, budget: Budget) -> None:
    """Count one request and raise `RateLimited` when it is over `budget` (what the dependencies call)."""
    decision = ratelimit.check(
        db,
        bucket=f"{bucket}:{scope}",
        key=key,
        limit=budget.limit,
        window_seconds=budget.window_seconds,
        secret=settings.pseudonym_key,
    )
    if not decision.allowed:
        raise RateLimited(
            f"Too many requests ({budget.limit} per {budget.window_seconds} s); retry later.",
            retry_after=decision.retry_after,
        )


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
        budget = _buckets(request)[bucket].ip
        if budget is not None:
            settings = app_settings(request)
            ip = client_ip(request.scope, proxy_rule(settings))
            enforce(app_db(request), settings, bucket=bucket, scope="ip", key=ip, budget=budget)

    LIMITERS[per_ip] = bucket
    analysed_once(per_ip)
    if BUCKETS[bucket].user is None:
        return Depends(per_ip)

    def per_user(_ip: Annotated[None, Depends(per_ip)], request: Request, caller: CurrentCaller) -> None:
        budget = _buckets(request)[bucket].user
        if budget is not None:
            key = str(caller.account.id)
            enforce(app_db(request), app_settings(request), bucket=bucket, scope="user", key=key, budget=budget)

    LIMITERS[per_user] = bucket
    analysed_once(per_user)
    return Depends(per_user)


def limiter_buckets(dependant: Any) -> set[str]:
    """The rate-limit buckets anywhere in a route's dependency tree (`route.dependant`)."""
    found = {LIMITERS[dependant.call]} if dependant.call in LIMITERS else set()
    for sub in dependant.dependencies:
        found |= limiter_buckets(sub)
    return found
