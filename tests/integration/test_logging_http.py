"""A flow over HTTP with the real logging set-up: access records carry ids and statuses, never personal data."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database
from tests.support.tokens import HS256_SECRET, bearer, hs256

EMAIL = "grace.hopper@example.com"
IP = "203.0.113.77"


def test_flow_logs_ids_and_statuses_but_no_personal_data(log_output: io.StringIO, tmp_path: Path, db: Database) -> None:
    settings = Settings(
        data_dir=tmp_path,
        supabase_jwt_secret=HS256_SECRET,
        trusted_proxy_hops=1,
        rate_limit_overrides={"auth_failures.ip": "2/600"},  # so the flow also raises (and logs) a security event
    )
    token = hs256(email=EMAIL)
    headers = {"X-Forwarded-For": IP}
    with TestClient(create_app(settings, db), headers=headers) as client:
        me = client.get("/v1/me", headers=bearer(token))
        assert me.status_code == 200
        assert me.json()["email"] == EMAIL
        unauthorized = [client.get("/v1/me", headers=bearer(token[:-4] + "AAAA")) for _ in range(3)]
        assert {r.status_code for r in unauthorized} == {401}
        missing = client.get(f"/v1/users/{EMAIL}?ip={IP}")
        assert missing.status_code == 404
    output = log_output.getvalue()
    assert EMAIL not in output
    assert token not in output
    assert token.split(".")[2] not in output  # not even the signature
    assert IP not in output
    records = [json.loads(line) for line in output.splitlines()]
    access = [r for r in records if r["logger"] == "atelier.access"]
    assert [(r["method"], r["route"], r["status"]) for r in access] == [
        ("GET", "/v1/me", 200),
        ("GET", "/v1/me", 401),
        ("GET", "/v1/me", 401),
        ("GET", "/v1/me", 401),
        ("GET", "unmatched", 404),
    ]
    assert access[0]["request_id"] == me.headers["x-request-id"]
    assert access[-1]["request_id"] == missing.headers["x-request-id"]
    assert all(isinstance(r["latency_ms"], float) for r in access)
    assert any(r["message"] == "security event raised" for r in records)


def test_a_full_flow_leaves_no_email_token_or_ip_in_the_logs(
    log_output: io.StringIO, tmp_path: Path, db: Database
) -> None:
    """Sign-in, onboarding, consent, upload, history, credits and a support ticket, at DEBUG, with the personal
    data also planted where a careless log line would pick it up (file names, ticket text, device id)."""
    logging.getLogger().setLevel(logging.DEBUG)
    settings = Settings(data_dir=tmp_path, supabase_jwt_secret=HS256_SECRET, trusted_proxy_hops=1)
    token = hs256(email=EMAIL)
    auth = bearer(token) | {"X-Device-ID": "device-of-grace-01"}
    image = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(image, "PNG")
    with TestClient(create_app(settings, db), headers={"X-Forwarded-For": IP}) as client:
        steps = [
            client.get("/v1/me", headers=auth),
            client.post("/v1/me/onboarding", headers=auth, json={"age_confirmed": True, "accepted_policy_version": 1}),
            client.post(
                "/v1/consents",
                headers=auth,
                json={"device_id": "device-of-grace-01", "categories": {"analytics": True}, "notice_version": 1},
            ),
            client.post("/v1/uploads", headers=auth, files={"file": (f"{EMAIL}.png", image.getvalue(), "image/png")}),
            client.get("/v1/media", headers=auth),
            client.get("/v1/credits", headers=auth),
            client.get("/v1/credits/ledger", headers=auth),
            client.post(
                "/v1/support/tickets",
                headers=auth,
                data={"subject": f"Help for {EMAIL}", "message": f"I sign in from {IP} with {token}"},
                files={"attachments": (f"{EMAIL}.png", image.getvalue(), "image/png")},
            ),
            client.get("/v1/support/tickets", headers=auth),
            client.post("/v1/analytics/events", headers=auth, json={"feature": "upload"}),
        ]
    assert [r.status_code for r in steps] == [200, 200, 201, 201, 200, 200, 200, 201, 200, 202]
    output = log_output.getvalue()
    records = [json.loads(line) for line in output.splitlines()]
    assert len([r for r in records if r["logger"] == "atelier.access"]) == len(steps)  # the scan saw the flow
    assert EMAIL not in output
    assert EMAIL.split("@", maxsplit=1)[0] not in output
    assert token not in output
    assert token.split(".")[2] not in output
    assert IP not in output
