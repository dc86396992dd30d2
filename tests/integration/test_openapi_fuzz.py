"""Schemathesis against the app's own OpenAPI description: no 5xx, and every answer matches the description.

Bounded and reproducible: at most MAX_EXAMPLES generated cases per operation, derandomized (the same
cases on every run), each case sent once with the credentials schemathesis generated and once
authenticated with a real token. Every route that joins ROUTERS is fuzzed here
without further work; routes that read a body get malformed bodies too.

A pagination cursor is opaque: a random string is valid by the schema yet one the API never issued, so
generated cursors are swapped for ones the API could have issued (positive cases stay positive), and a
separate test sends a forged cursor to every paged route and expects the documented 400 `invalid_cursor`.
Every operation is fuzzed before the test fails, so one run lists every finding.

Every operation reaches its handler: each gets an onboarded account of its own (so routes that require
onboarding are not just 403s), and the destructive ones (`DESTRUCTIVE`: an under-13 onboarding erases the
account, `DELETE /v1/me` locks it, and onboarding happens once) get a fresh throwaway account per case.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from PIL import Image
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from config.limits import BUCKETS
from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database
from shared.kit.errors import InvalidCursor
from shared.kit.pagination import Cursor
from tests.support import polar
from tests.support.tokens import HS256_SECRET, hs256

MAX_EXAMPLES = 30
# Budgets high enough that the fuzzer measures the routes, not the limiter (which has its own tests).
GENEROUS = {f"{bucket}.{scope}": "100000/60" for bucket in BUCKETS for scope in ("user", "ip")}


def _settings(tmp_path: Path, polar_url: str) -> Settings:
    """A deployment with billing on (Polar played by a loopback server), so its routes answer as in production."""
    overrides = {k: v for k, v in GENEROUS.items() if k != "public.user"}
    return Settings(
        data_dir=tmp_path,
        supabase_jwt_secret=HS256_SECRET,
        rate_limit_overrides=overrides,
        **polar.billing_settings(tmp_path, polar_url),
    )


def _issued_cursor(case: schemathesis.Case[Any]) -> None:
    """Replace a generated cursor the API could not have issued with one it could (same input, same cursor)."""
    if not case.query or not isinstance(case.query.get("cursor"), str):
        return
    try:
        Cursor.decode(case.query["cursor"])
    except InvalidCursor:
        seed = uuid.uuid5(uuid.NAMESPACE_URL, case.query["cursor"])
        case.query["cursor"] = Cursor(datetime(2026, 1, 1, tzinfo=UTC), seed).encode()


@pytest.fixture
def polar_url() -> Iterator[str]:
    with polar.polar_api() as server:
        yield server.url


def _png(seed: bytes) -> bytes:
    """A real 8×8 PNG whose colour comes from `seed`: generated file parts become images the API accepts."""
    digest = hashlib.sha256(seed).digest()
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (digest[0], digest[1], digest[2])).save(out, "PNG")
    return out.getvalue()


def _is_file(schema: dict[str, Any]) -> bool:
    if "contentMediaType" in schema or schema.get("format") == "binary":
        return True
    options = [schema.get("items", {}), *schema.get("anyOf", [])]
    return any(isinstance(option, dict) and option and _is_file(option) for option in options)


def file_fields(description: dict[str, Any], path: str, method: str) -> set[str]:
    """Names of the multipart parts the OpenAPI description declares as files, for one operation."""
    content = description["paths"][path][method].get("requestBody", {}).get("content", {})
    schema = content.get("multipart/form-data", {}).get("schema", {})
    if "$ref" in schema:
        schema = description["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return {name for name, prop in schema.get("properties", {}).items() if _is_file(prop)}


def _real_images(case: schemathesis.Case[Any], files: set[str]) -> None:
    """A file part is valid by the schema whatever its bytes, but only an image is accepted: swap one in."""
    if not isinstance(case.body, dict):
        return
    body: dict[str, Any] = case.body
    for name in files & set(body):
        value = body[name]
        if isinstance(value, list):
            body[name] = [_png(str(item).encode()) for item in value]
        elif value is not None:
            body[name] = _png(str(value).encode())


# Documented 422s for schema-valid input that breaks a rule JSON Schema cannot state. Listed by code, so
# any other 422 for schema-valid input still fails.
BEYOND_THE_SCHEMA = {
    "unknown_policy_version",  # the body names a policy version that does not exist
    "invalid_birth_date",  # a date in the future or more than 130 years ago (relative to today)
    # POST /v1/jobs: which fields a task needs or refuses, and what a model offers (config/models.py), are
    # rules across fields and registry data; an onboarded account reaches them (docs/api.md: Jobs lists the codes)
    *("prompt_required", "prompt_too_long", "image_required", "image_not_accepted", "image_not_found"),
    *("mask_required", "mask_not_accepted", "model_task_mismatch", "unknown_model", "model_not_licensed"),
    *("unsupported_aspect_ratio", "aspect_ratio_not_supported", "count_not_supported", "bad_size"),
    *("invalid_target_size", "target_size_not_accepted", "target_model_not_accepted", "unknown_target_model"),
    *("content_blocked", "invalid_job"),
    # a control the chosen model does not take, or a value outside its own bounds (GET /v1/models: `controls`)
    *("unsupported_control", "control_out_of_range"),
}


def accepts_schema_valid_data(ctx: CheckContext, response: Response, case: schemathesis.Case[Any]) -> bool | None:
    """Schemathesis' positive-data check, except for the documented BEYOND_THE_SCHEMA refusals."""
    if response.status_code == 422:
        try:
            code = json.loads(response.content)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if code in BEYOND_THE_SCHEMA:
            return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result


# Operations that end or change the account for good: each generated case gets an account of its own.
DESTRUCTIVE = {("POST", "/v1/me/onboarding"), ("DELETE", "/v1/me")}


def _onboarded_token(client: TestClient) -> str:
    token = hs256(user_id=uuid.uuid4(), email="fuzz@example.com")
    version = client.get("/v1/policies/current").json()["version"]
    body = {"age_confirmed": True, "accepted_policy_version": version}
    answer = client.post("/v1/me/onboarding", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return token


def _same(token: str) -> Callable[[], str]:
    return lambda: token


def fuzzer(
    operation: APIOperation[Any, Any, Any, Any], files: set[str], token: Callable[[], str]
) -> Callable[[], None]:
    """Hypothesis over one operation: each case once with its generated credentials, once with a real token
    (`token()` is asked once per case: the same account, or a fresh one for a destructive operation)."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case[Any]) -> None:
        _issued_cursor(case)
        _real_images(case, files)
        for headers in ({}, {"Authorization": f"Bearer {token()}"}):  # generated credentials, then a real token
            case.call_and_validate(
                headers=headers or None,
                excluded_checks=[positive_data_acceptance],
                additional_checks=[accepts_schema_valid_data],
            )

    return fuzz


def test_fuzz_every_operation(tmp_path: Path, db: Database, polar_url: str) -> None:
    app = create_app(_settings(tmp_path, polar_url), db)
    failures: list[str] = []
    with TestClient(app) as client:  # runs the lifespan once, like a server would
        # The first image judged imports torch and loads the tiny classifier, which can outlast the fuzzer's 10 s
        # read timeout on a busy machine; a server pays that once, so load it before the clock runs.
        app.state.moderator.judge_image(_png(b"warm-up"), "image/png", "upload")
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        results = list(schema.get_all_operations())
        assert all(isinstance(result, Ok) for result in results), "the OpenAPI description has invalid operations"
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert {f"{op.method.upper()} {op.path}" for op in operations} >= {"GET /healthz", "GET /v1/me"}
        description = app.openapi()
        for operation in operations:
            files = file_fields(description, operation.path, operation.method.lower())

            if (operation.method.upper(), operation.path) in DESTRUCTIVE:
                fuzz = fuzzer(operation, files, lambda: hs256(user_id=uuid.uuid4(), email="fuzz@example.com"))
            else:  # an onboarded user of its own per operation
                fuzz = fuzzer(operation, files, _same(_onboarded_token(client)))

            try:
                fuzz()
            except Exception as exc:
                failures.append(f"{operation.method.upper()} {operation.path}:\n{exc}")
    assert not failures, "\n\n".join(failures)


def test_a_forged_cursor_is_a_documented_400(tmp_path: Path, db: Database, polar_url: str) -> None:
    app = create_app(_settings(tmp_path, polar_url), db)
    headers = {"Authorization": f"Bearer {hs256(email='fuzz@example.com')}"}
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        paged = [
            result.ok()
            for result in schema.get_all_operations()
            if isinstance(result, Ok) and any(p.name == "cursor" for p in result.ok().query)
        ]
        assert {op.path for op in paged} >= {"/v1/credits/ledger", "/v1/media", "/v1/gallery"}
        for operation in paged:
            case = operation.Case(query={"cursor": "forged"})
            response = case.call(headers=headers)
            assert response.status_code == 400, f"{operation.path}: {response.status_code}"
            assert response.json()["error"]["code"] == "invalid_cursor"
            case.validate_response(
                response,
                headers=headers,
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            )
