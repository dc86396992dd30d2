"""Builds the FastAPI app: settings, database pool, token verifier, middleware, error shape and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from config.limits import body_limits
from config.settings import Settings, get_settings
from functions.api.cors import JsonCorsMiddleware
from functions.api.errors import declare_error_responses, install_error_handlers
from functions.api.middleware import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    DenialMonitorMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
    proxy_rule,
)
from functions.api.readiness import Readiness
from functions.api.routes import LOCAL_ROUTERS, ROUTERS
from functions.api.routes.jobs import state_prompt_limit
from functions.safety.factory import moderator_for, warm
from shared.auth import TokenVerifier
from shared.jobs.dispatcher import Dispatcher
from shared.jobs.marks import LINGER_SECONDS, DispatchMarks
from shared.kit.db import Database, open_database
from shared.media import decoding
from shared.media.storage import Storage, build_storage
from shared.moderation import Moderator


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    storage: Storage | None = None,
    *,
    dispatcher: Dispatcher | None = None,
    moderator: Moderator | None = None,
    warm_up: bool = False,
    mark_linger: float | None = LINGER_SECONDS,
) -> FastAPI:
    """The API. Pass `database` to share a pool (tests, the local stack); otherwise one is opened at startup.

    `storage` defaults to the backend the settings choose (a local folder or Supabase Storage); `dispatcher`
    to this process's (functions/job_routing.py); `moderator` to the one `ATELIER_IMAGE_CLASSIFIER` picks
    (functions/safety/factory.py). With `warm_up` (the local stack, the API on Modal) polar-sdk and its webhook
    loaders (when webhooks are on) and the image classifier are loaded in the background at start, and `/healthz`
    answers 503 `not_ready` until they are (functions/api/readiness.py). Admitted jobs' dispatch marks are written
    in batches, `mark_linger` seconds after the first of each (shared/jobs/marks.py; None: only when flushed).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        app.state.db = database if database is not None else open_database(settings)
        app.state.dispatch_marks = DispatchMarks(app.state.db, linger=mark_linger)
        if warm_up:
            steps = {"image classifier": lambda: warm(app.state.moderator)}
            if settings.polar_webhook_secret:
                steps = {"payment webhooks": warm_webhooks, **steps}
            app.state.readiness.start(steps)
        try:
            yield
        finally:
            app.state.dispatch_marks.close()  # the marks not yet written, before the pool closes
            if owned:
                app.state.db.close()

    app = FastAPI(
        title="Atelier API",
        version="1",
        description="Backend of the Atelier image studio.",
        lifespan=lifespan,
        # /openapi.json and /docs are served by routes/docs.py, under the `public` rate limit.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    # Image decoding memory, per process: a budget each decode reserves from, and few malloc arenas so freed
    # decode buffers go back to the system (shared/media/decoding.py).
    decoding.configure(settings.decode_memory_mb * decoding.MIB, wait_seconds=settings.decode_wait_seconds)
    decoding.limit_arenas()
    app.state.rate_buckets = settings.rate_buckets
    app.state.verifier = TokenVerifier(settings)
    app.state.storage = storage if storage is not None else build_storage(settings)
    app.state.dispatcher = dispatcher
    app.state.moderator = moderator if moderator is not None else moderator_for(settings)
    app.state.readiness = Readiness()
    if not warm_up:
        app.state.readiness.mark_ready()
    if database is not None:
        app.state.db = database
        app.state.dispatch_marks = DispatchMarks(database, linger=mark_linger)

    install_error_handlers(app)
    # Added innermost first: body caps sit inside CORS, so a 413 still carries CORS headers.
    app.add_middleware(BodyLimitMiddleware, limits=body_limits(settings.max_upload_bytes))
    app.add_middleware(JsonCorsMiddleware, origins=settings.cors_origins)  # functions/api/cors.py
    app.add_middleware(DenialMonitorMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, rule=proxy_rule(settings))
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware)
    for router in ROUTERS if settings.is_production else ROUTERS + LOCAL_ROUTERS:
        app.include_router(router)
    declare_error_responses(app)
    state_prompt_limit(app, settings.max_prompt_chars)
    return app


def warm_webhooks() -> None:
    """Import polar-sdk and build its payload loaders before the first delivery: both happen on first use
    otherwise, and made the first delivery after a start take ~2.4 s (eight concurrent ones all waited on it)."""
    from shared.billing import service  # noqa: F401 - imported for its side effect: the SDK's modules
    from shared.billing.webhooks import EVENT_TYPES, warm_loaders

    warm_loaders(EVENT_TYPES)
