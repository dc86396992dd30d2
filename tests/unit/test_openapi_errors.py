"""The error answers in the OpenAPI description are derived from dependencies and `responses=errors(...)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter

from config.settings import Settings
from functions.api.app import create_app
from functions.api.deps import OnboardedCaller
from functions.api.ratelimits import rate_limited


def _codes(description: dict[str, Any], method: str, path: str) -> dict[str, str]:
    responses = description["paths"][path][method]["responses"]
    return {status: answer["description"] for status, answer in responses.items() if int(status) >= 400}


def test_statuses_come_from_what_each_route_depends_on(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    gated = APIRouter()

    @gated.post("/v1/scratch/generate", dependencies=[rate_limited("jobs")])
    def generate(caller: OnboardedCaller) -> dict[str, str]:
        return {"id": str(caller.account.id)}

    app.include_router(gated)
    description = app.openapi()

    ledger = _codes(description, "get", "/v1/credits/ledger")
    assert "`invalid_cursor`" in ledger["400"]  # it pages with a cursor
    assert "`invalid_token`" in ledger["401"]
    assert "`underage`" in ledger["403"]
    assert "`policy_acceptance_required`" in ledger["428"]  # behind the policy gate
    assert "`rate_limited`" in ledger["429"]
    assert "`rate_limiter_unavailable`" in ledger["503"]

    me = _codes(description, "get", "/v1/me")
    assert "428" not in me  # exempt from the gate: a user must be able to see their account
    assert "400" not in me

    gallery = _codes(description, "get", "/v1/gallery")
    assert "401" not in gallery  # anonymous
    assert "`invalid_cursor`" in gallery["400"]

    assert "`onboarding_required`" in _codes(description, "post", "/v1/scratch/generate")["403"]

    checkout = _codes(description, "post", "/v1/billing/checkout")  # from responses=errors(...)
    assert "`unknown_product`" in checkout["404"]
    assert "`payment_provider_error`" in checkout["502"]
    assert "`billing_disabled`" in checkout["503"]

    upload = _codes(description, "post", "/v1/uploads")  # the route's own 422s survive the generic one
    assert "`invalid_image`" in upload["422"]
    assert "`image_too_large`" in upload["422"]
    assert "Invalid request" in upload["422"]
    assert "`unsupported_media_type`" in upload["415"]

    acceptance = _codes(description, "post", "/v1/me/policy-acceptances")
    assert "`policy_version_not_current`" in acceptance["409"]

    policy_text = description["paths"]["/v1/policies/{kind}/{version}"]["get"]["responses"]
    assert set(policy_text["200"]["content"]) == {"text/markdown"}
    assert set(policy_text["404"]["content"]) == {"application/json"}  # errors are JSON whatever 2xx is
