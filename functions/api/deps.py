"""Small dependency aliases every router uses: the database and the authenticated caller."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from config.settings import Settings
from config.values import value
from functions import job_routing
from functions.api.raises import raises
from shared.access import locks
from shared.access.onboarding import onboarding_required
from shared.access.standing import Standing
from shared.accounts.auth_admin import SupabaseAuthAdmin
from shared.accounts.models import Account
from shared.auth import Principal, TokenVerifier
from shared.consent import service as consent
from shared.devices import security_log
from shared.devices.network import ProxyRule, client_ip
from shared.jobs.dispatcher import Dispatcher
from shared.kit.db import Database
from shared.kit.errors import AtelierError, OnboardingRequired, PolicyAcceptanceRequired, Unauthorized, Underage
from shared.kit.pagination import DEFAULT_LIMIT, MAX_CURSOR_CHARS, MAX_LIMIT
from shared.media.storage import Storage as ObjectStorage
from shared.media.storage import StorageUnavailable
from shared.moderation import Moderator
from shared.policies import service as policies

DEVICE_ID_HEADER = "X-Device-ID"
SCREEN_HEADER = "X-Screen-Resolution"


# Dependencies that only read the app's state are `async def`: FastAPI runs a plain `def` dependency in the thread
# pool, a hand-off per dependency per request (the caller's, the limiters' and the route's own work need it: they
# wait on the database).
async def _db(request: Request) -> Database:
    return app_db(request)


async def _settings(request: Request) -> Settings:
    return app_settings(request)


def app_db(request: Request) -> Database:
    """The app's database, read directly by the dependencies every route carries (see below)."""
    db: Database = request.app.state.db
    return db


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _auth_admin(request: Request) -> SupabaseAuthAdmin:
    admin: SupabaseAuthAdmin | None = getattr(request.app.state, "auth_admin", None)
    if admin is None:
        admin = SupabaseAuthAdmin(request.app.state.settings)
        request.app.state.auth_admin = admin
    return admin


@raises(StorageUnavailable)  # every route that reaches the object store may find it unable to answer
async def _storage(request: Request) -> ObjectStorage:
    storage: ObjectStorage = request.app.state.storage
    return storage


async def _dispatcher(request: Request) -> Dispatcher:
    """The app's dispatcher if one was given, else this process's (local workers, Modal, or none)."""
    given: Dispatcher | None = request.app.state.dispatcher
    return given if given is not None else job_routing.current()


async def _moderator(request: Request) -> Moderator:
    moderator: Moderator = request.app.state.moderator
    return moderator


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# Where the request's RequestInfo is kept once read (the limiter reads it, then a route's `RequestData`).
_INFO_KEY = "atelier.request_info"


def request_info(request: Request) -> security_log.RequestInfo:
    """Device and connection data of this request (the client address by the one rule of shared/devices/network.py,
    as rate limits count it; route template, headers). Kept in the request's scope once routed: the limiter and a
    route's `RequestData` read the same."""
    known: security_log.RequestInfo | None = request.scope.get(_INFO_KEY)
    if known is not None:
        return known
    settings: Settings = request.app.state.settings
    route = request.scope.get("route")
    peer = request.client.host if request.client else None
    info = security_log.RequestInfo(
        method=request.method,
        route=str(getattr(route, "path", "") or "unknown"),
        ip=client_ip(
            peer,
            request.headers.get("x-forwarded-for"),
            ProxyRule.of(settings.trusted_proxies, settings.trusted_proxy_hops),
        ),
        user_agent=request.headers.get("user-agent"),
        accept_language=request.headers.get("accept-language"),
        screen=request.headers.get(SCREEN_HEADER.lower()),
        device_id=request.headers.get(DEVICE_ID_HEADER.lower()),
        gpc=request.headers.get("sec-gpc", "").strip() == "1",
    )
    if route is not None:  # once routed, nothing it reads changes while the request is handled
        request.scope[_INFO_KEY] = info
    return info


async def _request_data(request: Request) -> security_log.RequestInfo:
    return request_info(request)


@value
class Caller:
    """The verified principal, their account row and its standing (suspended, onboarded: the creating routes'
    guards read it rather than asking the database again)."""

    principal: Principal
    account: Account
    standing: Standing


class BearerScheme(SecurityBase):
    """A dependency that reads the request's bearer token, declared in the OpenAPI description as the bearer scheme
    (`HTTPBearer`: a Supabase access token). The caller dependencies below and the limiter of a bucket with a
    per-account budget (functions/api/ratelimits.py) are each one: FastAPI declares a route's security from the scheme
    dependencies in its tree, and analyses every node of that tree when the route is declared, so a scheme of its own
    beneath each of them (`HTTPBearer`, whose answer none read) was two more nodes per caller per route, and the
    limiter's own wrapper around the admission and the caller three more (issue 34: cold start). A subclass gives
    `__call__`, the dependency itself."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(description="A Supabase access token (JWT).")
        self.scheme_name = "HTTPBearer"  # the name FastAPI's HTTPBearer gave it: the description's key


# The dependencies below that every route carries (the caller, the rate limiter's, the suspension guard) read the
# database and the settings from the request's app rather than through `Depends(_db)`: FastAPI analyses every node of
# every route's dependency tree when the route is declared, so each node they name is paid for once per route at
# start (issue 34: cold start). Route handlers still take `db: Db` and `settings: AppSettings`.


# Where the request's caller is kept once known (the scope lives as long as the request): the limiter of a bucket
# with a per-account budget resolves the caller in its own call (functions/api/ratelimits.py), and `_caller` reads it.
_CALLER_KEY = "atelier.caller"


def known_caller(request: Request) -> Caller | None:
    """The caller, when this request's limiter or caller dependency has already resolved it."""
    caller: Caller | None = request.scope.get(_CALLER_KEY)
    return caller


def remember_caller(request: Request, caller: Caller) -> None:
    request.scope[_CALLER_KEY] = caller
    request.state.account_id = caller.account.id  # for the denial monitor (counted per account, hashed)


def verify_token(request: Request) -> Principal:
    """The request's bearer token, verified (401 `unauthorized` when missing or not valid)."""
    verifier: TokenVerifier = request.app.state.verifier
    return verifier.verify(bearer_token(request))


def resolve_caller(request: Request, principal: Principal | None = None) -> Caller:
    """Verify the token, refuse a blocked (under-13) or erased account, create the account, log the request's
    device data, link the device's consent, refuse a locked account (403) and apply the policy gate (428).

    One transaction: the account with its standing in one statement (what every check below reads; the account is
    upserted only when it is missing, due its hourly activity refresh or its email changed: `sign_in`), the
    device's consent link (when the request names a device not linked yet), the security log row, COMMIT.
    The limiter of a bucket with a per-account budget asks all of it in fewer statements when nothing but the
    security log row is to be written (shared/lifecycle/entry.py) and comes here otherwise."""
    # A caller's first request (or its hourly refresh) reaches the signup: imported by the first call, with the
    # billing repository it brings (cold start: routes/__init__.py).
    from shared.lifecycle.signup import sign_in

    db = app_db(request)
    if principal is None:
        principal = verify_token(request)
    info = request_info(request)
    gate_error: AtelierError | None = None
    with db.transaction() as conn:
        standing, created = sign_in(conn, principal, settings=request.app.state.settings, device_id=info.device_id)
        account = standing.account
        # Read after the upsert, in its transaction: a refusal committed meanwhile rolls this back too. Blocked
        # (under 13), or its erasure under way: refused, nothing written.
        standing.check_entry()
        if created:  # a token issued before its account was erased must not bring the account back
            locks.check_not_erased(conn, principal.user_id)
        # The device's consent link first, asked only when the standing says one is due (written once per device
        # and account): when neither it nor a new account (its signup credits) was written, the security log row is
        # all this commit keeps, and it commits without waiting for its WAL flush (`security_log.record`,
        # docs/operating.md "The security log's durability").
        due = info.device_id if standing.device_link_due else None
        linked = consent.link_device(conn, account.id, due) if due else None
        security_log.record(conn, account.id, info, durable=created or linked is not None)
        try:
            # Awaiting erasure: 403 account_locked except reading /v1/me and cancelling; then the policy gate.
            standing.check_access(method=request.method, path=request.url.path)
            if standing.gated(method=request.method, path=request.url.path):  # the 428 names the versions
                policies.check_gate(conn, account.id, request.method, request.url.path)
        except AtelierError as exc:  # raised after commit, so the security log keeps the refused request
            gate_error = exc
    request.state.account_id = account.id  # for the denial monitor (counted per account, hashed)
    if gate_error is not None:
        raise gate_error
    caller = Caller(principal, account, standing)
    remember_caller(request, caller)
    return caller


# What resolving the caller may refuse with, in this order (the OpenAPI description lists them so).
CALLER_ERRORS = (Unauthorized, locks.AccountErased, Underage, locks.AccountLocked, PolicyAcceptanceRequired)


class _CallerScheme(BearerScheme):
    """`CurrentCaller`: the authenticated caller (`resolve_caller`)."""

    async def __call__(self, request: Request) -> Caller:
        """Every route whose limiter has a per-account budget has resolved the caller already, in the limiter's one
        call to the thread pool (a hand-off per `def` dependency, and the three were the most of a cheap request's
        CPU after the statements: issue 34); any other route resolves it here."""
        known = known_caller(request)
        if known is not None:
            return known
        return await run_in_threadpool(resolve_caller, request)


_caller = raises(*CALLER_ERRORS)(_CallerScheme())


@raises(*CALLER_ERRORS)
def _optional_caller(request: Request) -> Caller | None:
    """The caller when a bearer token is sent (and must then be valid); None for anonymous calls."""
    if bearer_token(request) is None:
        return None
    return known_caller(request) or resolve_caller(request)


def _refuse_not_onboarded(db: Database) -> None:
    with db.transaction() as conn:
        raise onboarding_required(conn)


class _OnboardedCallerScheme(_CallerScheme):
    """`OnboardedCaller`: the caller (its refusals first), refused with 403 `onboarding_required` until onboarding
    completed (generation, purchase): read with the account in the caller's statement, so only a refusal asks the
    database (which version to accept), in the thread pool."""

    async def __call__(self, request: Request) -> Caller:
        caller = await super().__call__(request)
        if caller.standing.onboarded_at is None:
            await run_in_threadpool(_refuse_not_onboarded, app_db(request))
        return caller


# Its own refusal first, then the caller's: the order the description listed them in when it depended on `_caller`.
_onboarded_caller = raises(OnboardingRequired, *CALLER_ERRORS)(_OnboardedCallerScheme())


def analysed_once(*calls: Callable[..., Any]) -> None:
    """Read each dependency's signature once, here, and keep it as `__signature__` (which `inspect.signature` returns
    as it is): FastAPI reads the signature of every dependency of every route when the route is declared, evaluating
    each string annotation anew, so the ones every route carries were read ~50 times at start (cold start, issue 34).
    Call it once the names the annotations use are defined."""
    for call in calls:
        setattr(call, "__signature__", inspect.signature(call, eval_str=True))  # noqa: B010 - mypy: not on Callable


analysed_once(
    _db,
    _settings,
    _auth_admin,
    _storage,
    _dispatcher,
    _moderator,
    request_info,
    _caller,  # a callable instance: its signature is its __call__'s, also read once per route
    _optional_caller,
    _onboarded_caller,
)

Db = Annotated[Database, Depends(_db)]
AppSettings = Annotated[Settings, Depends(_settings)]
AuthAdmin = Annotated[SupabaseAuthAdmin, Depends(_auth_admin)]
CurrentCaller = Annotated[Caller, Depends(_caller)]
OptionalCaller = Annotated[Caller | None, Depends(_optional_caller)]
OnboardedCaller = Annotated[Caller, Depends(_onboarded_caller)]
RequestData = Annotated[security_log.RequestInfo, Depends(_request_data)]
Storage = Annotated[ObjectStorage, Depends(_storage)]
JobDispatcher = Annotated[Dispatcher, Depends(_dispatcher)]
ContentModerator = Annotated[Moderator, Depends(_moderator)]

# Pagination query parameters every list route uses: `limit: Limit = DEFAULT_LIMIT, cursor: PageCursor = None`.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1..{MAX_LIMIT}.")]
# The cursor's length is checked by `Cursor.decode` (400 `invalid_cursor`, like any other token it did not issue).
PageCursor = Annotated[
    str | None,
    Query(description="`next_cursor` of the previous page.", json_schema_extra={"maxLength": MAX_CURSOR_CHARS}),
]
__all__ = [
    "DEFAULT_LIMIT",
    "AppSettings",
    "AuthAdmin",
    "Caller",
    "ContentModerator",
    "CurrentCaller",
    "Db",
    "JobDispatcher",
    "Limit",
    "OnboardedCaller",
    "OptionalCaller",
    "PageCursor",
    "RequestData",
    "Storage",
    "bearer_token",
]
