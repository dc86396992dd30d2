"""Schemathesis against the app's own OpenAPI description: no 5xx, and every answer matches the description.

Bounded and reproducible: at most MAX_EXAMPLES generated cases per operation, derandomized (the same
cases on every run), each case sent once with the credentials schemathesis generated and once
authenticated with a real token. Every route that joins ROUTERS is fuzzed here
without further work; routes that read a body get malformed bodies too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from config.limits import BUCKETS
from config.settings import Settings
from functions.api.app import create_app
from shared.db import Database
from tests.support.tokens import HS256_SECRET, hs256

MAX_EXAMPLES = 30
# Budgets high enough that the fuzzer measures the routes, not the limiter (which has its own tests).
GENEROUS = {f"{bucket}.{scope}": "100000/60" for bucket in BUCKETS for scope in ("user", "ip")}


def test_fuzz_every_operation(tmp_path: Path, db: Database) -> None:
    overrides = {k: v for k, v in GENEROUS.items() if k != "public.user"}
    app = create_app(Settings(data_dir=tmp_path, supabase_jwt_secret=HS256_SECRET, rate_limit_overrides=overrides), db)
    token = hs256(email="fuzz@example.com")
    with TestClient(app):  # runs the lifespan once, like a server would
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        results = list(schema.get_all_operations())
        assert all(isinstance(result, Ok) for result in results), "the OpenAPI description has invalid operations"
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert {f"{op.method.upper()} {op.path}" for op in operations} >= {"GET /healthz", "GET /v1/me"}
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=MAX_EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate()  # with whatever credentials were generated (mostly garbage tokens)
                case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

            fuzz()
