"""The age gate covers everything that creates content or moves money, and its refusals name the next step.

Uploads, checkout, the portal, publishing to the gallery and new support tickets answer 403
`onboarding_required` until onboarding; the rights routes stay open to everyone signed in. 403
`onboarding_required` and 428 `policy_acceptance_required` say which endpoint to call with which version, in
`error.details` and in the message, and following them clears the refusal.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.kit.db import Database
from shared.media import service as media
from shared.media.storage import Storage
from shared.notify import policy_update
from tests.support import images
from tests.support.jobs import job_row
from tests.support.people import Person, onboard, person


def _output(client: TestClient, db: Database, who: Person) -> str:
    storage: Storage = client.app.state.storage  # type: ignore[attr-defined]
    client.get("/v1/me", headers=who.headers)  # the account exists from its first call
    with db.transaction() as conn:
        item = media.store_output(
            conn,
            storage,
            user_id=who.id,
            job_id=job_row(conn, who.id),
            data=images.plain("PNG", (16, 16)),
            content_type="image/png",
            width=16,
            height=16,
            task="text_to_image",
            model="flux-schnell",
            prompt=None,
        )
    return str(item.id)


def _gated_calls(client: TestClient, db: Database, who: Person) -> dict[str, Any]:
    output = _output(client, db, who)
    upload = {"file": ("a.png", images.plain("PNG"), "image/png")}
    return {
        "POST /v1/uploads": lambda: client.post("/v1/uploads", headers=who.headers, files=upload),
        "POST /v1/billing/checkout": lambda: client.post(
            "/v1/billing/checkout", headers=who.headers, json={"product_id": "anything"}
        ),
        "POST /v1/billing/portal": lambda: client.post("/v1/billing/portal", headers=who.headers),
        "PATCH /v1/media/{id} public": lambda: client.patch(
            f"/v1/media/{output}", headers=who.headers, json={"public": True}
        ),
        "POST /v1/support/tickets": lambda: client.post(
            "/v1/support/tickets", headers=who.headers, data={"subject": "Help", "message": "It does not work."}
        ),
        "POST /v1/jobs": lambda: client.post(
            "/v1/jobs", headers=who.headers, json={"task": "text_to_image", "prompt": "a cat"}
        ),
    }


def test_content_and_money_routes_need_onboarding_and_say_how(client: TestClient, db: Database) -> None:
    who = person()
    version = client.get("/v1/policies/current").json()["version"]
    for name, call in _gated_calls(client, db, who).items():
        response = call()
        assert response.status_code == 403, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == "onboarding_required", name
        assert error["details"] == {"call": "POST /v1/me/onboarding", "accepted_policy_version": version}, name
        assert "POST /v1/me/onboarding" in error["message"]
        assert f'"accepted_policy_version": {version}' in error["message"]
    onboard(client, who, accepted_policy_version=version)
    upload = client.post(
        "/v1/uploads", headers=who.headers, files={"file": ("a.png", images.plain("PNG"), "image/png")}
    )
    assert upload.status_code == 201, upload.text


def test_withdrawing_from_the_gallery_and_the_rights_routes_stay_open(client: TestClient, db: Database) -> None:
    who = person()
    output = _output(client, db, who)
    h = who.headers
    open_calls = [
        client.get("/v1/me", headers=h),
        client.patch("/v1/me", headers=h, json={"display_name": "Ada"}),
        client.get("/v1/me/preferences", headers=h),
        client.put("/v1/me/restriction", headers=h, json={"restricted": False}),
        client.post("/v1/me/exports", headers=h),
        client.get("/v1/policies/current"),
        client.patch(f"/v1/media/{output}", headers=h, json={"public": False}),
        client.delete(f"/v1/media/{output}", headers=h),
        client.delete("/v1/me", headers=h),
    ]
    assert [r.status_code for r in open_calls if r.status_code >= 400] == [], [r.text for r in open_calls]


@pytest.mark.parametrize("kinds", [("privacy",), ("privacy", "terms")])
def test_policy_acceptance_required_names_the_call_and_versions(
    client: TestClient, db: Database, kinds: tuple[str, ...]
) -> None:
    who = person()
    onboard(client, who)
    for kind in kinds:
        policy_update.publish(db, f"# {kind} v2\n\nChanged.", kind=kind, material=True)  # type: ignore[arg-type]
    refused = client.get("/v1/credits", headers=who.headers)
    assert refused.status_code == 428
    error = refused.json()["error"]
    assert error["code"] == "policy_acceptance_required"
    expected = [{"kind": kind, "version": 2} for kind in sorted(kinds)]
    assert error["details"] == {"call": "POST /v1/me/policy-acceptances", "accept": expected}
    assert "POST /v1/me/policy-acceptances" in error["message"]
    for step in error["details"]["accept"]:  # following the details clears the gate
        accepted = client.post("/v1/me/policy-acceptances", headers=who.headers, json=step)
        assert accepted.status_code == 201, accepted.text
    assert client.get("/v1/credits", headers=who.headers).status_code == 200
