"""Consent over HTTP: banner choices signed in or not, append-only events tied to the notice, GPC, cookies."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from config.cookies import COOKIES
from config.policies import shipped_text
from shared.access.guard import can_process
from shared.kit.db import Database
from shared.notify.policy_update import publish
from tests.support.images import plain
from tests.support.people import onboard, person

NON_ESSENTIAL = {c.name for c in COOKIES if not c.essential}
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
)


@pytest.fixture
def remote(app: FastAPI) -> Iterator[TestClient]:
    """A client whose peer address is a real public IPv4 address."""
    with TestClient(app, client=("203.0.113.77", 40000)) as test_client:
        yield test_client


def _device() -> str:
    return f"dev-{uuid.uuid4().hex}"


def _consent(client: TestClient, device: str, analytics: bool, **extra: object) -> Any:
    headers = extra.pop("headers", {})
    assert isinstance(headers, dict)
    body = {"device_id": device, "categories": {"analytics": analytics, "marketing": False}, "notice_version": 1}
    body.update(extra)
    return client.post("/v1/consents", json=body, headers=headers)


def _set_cookies(response: Any) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        cookies[name.strip()] = rest
    return cookies


def test_anonymous_consent_is_recorded_with_notice_truncated_ip_and_hashed_agent(
    remote: TestClient, db: Database
) -> None:
    device = _device()
    response = _consent(remote, device, True, headers={"User-Agent": CHROME_UA})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["categories"] == {"analytics": True, "marketing": False, "service_improvement": False}
    assert body["notice_version"] == 1
    assert body["notice_sha256"] == hashlib.sha256(shipped_text("privacy").encode()).hexdigest()
    with db.transaction() as conn:
        row = conn.execute("select user_id, ip_truncated, user_agent_sha256, source from consent_events").fetchone()
    assert row == {
        "user_id": None,
        "ip_truncated": "203.0.113.0",
        "user_agent_sha256": hashlib.sha256(CHROME_UA.encode()).hexdigest(),
        "source": "banner",
    }
    current = remote.get(f"/v1/consents/current?device_id={device}").json()
    assert current["categories"]["analytics"] is True
    assert _set_cookies(response).keys() == {"atelier_device", "atelier_aid"}


def test_withdrawal_is_the_same_call_with_false(client: TestClient, db: Database) -> None:
    device = _device()
    assert _consent(client, device, True).status_code == 201
    withdrawn = _consent(client, device, False)
    assert withdrawn.status_code == 201
    assert client.get(f"/v1/consents/current?device_id={device}").json()["categories"]["analytics"] is False
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from consent_events").fetchone() == {"n": 2}
        assert not can_process(conn, None, "analytics", device_id=device)


def test_no_choice_means_everything_optional_is_off(client: TestClient) -> None:
    body = client.get(f"/v1/consents/current?device_id={_device()}").json()
    assert body["categories"] == {"analytics": False, "marketing": False, "service_improvement": False}
    assert body["notice_version"] is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"categories": {"analytics": True}, "notice_version": 5}, "unknown_policy_version"),
        ({"categories": {"tracking_pixels": True}, "notice_version": 1}, "unknown_consent_category"),
        ({"categories": {"analytics": True}, "notice_version": 1, "device_id": "bad id!!!"}, "invalid_device_id"),
    ],
)
def test_bad_consent_is_refused_and_nothing_written(
    client: TestClient, db: Database, body: dict[str, object], code: str
) -> None:
    payload = {"device_id": _device(), **body}
    response = client.post("/v1/consents", json=payload)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from consent_events").fetchone() == {"n": 0}


def test_consent_events_cannot_be_updated_or_deleted(client: TestClient, db: Database) -> None:
    assert _consent(client, _device(), True).status_code == 201
    with pytest.raises(Exception, match="append-only"), db.transaction() as conn:
        conn.execute("update consent_events set categories = '{}'::jsonb")
    with pytest.raises(Exception, match="append-only"), db.transaction() as conn:
        conn.execute("delete from consent_events")
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from consent_events").fetchone() == {"n": 1}


def test_an_older_event_still_resolves_to_the_old_notice_hash(client: TestClient, db: Database) -> None:
    device = _device()
    old = _consent(client, device, True).json()
    v2_text = shipped_text("privacy") + "\nA new cookie section.\n"
    publish(db, v2_text, kind="privacy", material=True)
    assert (
        client.post(
            "/v1/consents",
            json={"device_id": device, "categories": {"analytics": False}, "notice_version": 2},
        ).json()["notice_sha256"]
        == hashlib.sha256(v2_text.encode()).hexdigest()
    )
    with db.transaction() as conn:  # what an audit reads: the event, and the notice text its foreign key points at
        first = conn.execute(
            """select e.notice_version, e.notice_sha256, p.version, p.text
                 from consent_events e join policy_versions p on p.id = e.notice_policy_id
                order by e.created_at limit 1"""
        ).fetchone()
    assert first is not None
    assert first["notice_version"] == first["version"] == 1
    assert first["notice_sha256"] == hashlib.sha256(first["text"].encode()).hexdigest() == old["notice_sha256"]
    assert old["notice_sha256"] == hashlib.sha256(shipped_text("privacy").encode()).hexdigest()


def test_signed_in_consent_is_linked_to_the_user(client: TestClient, db: Database) -> None:
    ada = person()
    device = _device()
    assert _consent(client, device, True, headers=ada.headers).status_code == 201
    with db.transaction() as conn:
        assert conn.execute("select user_id from consent_events").fetchone() == {"user_id": ada.id}
        assert can_process(conn, ada.id, "analytics")
        assert not can_process(conn, ada.id, "marketing")


def test_an_anonymous_device_choice_is_linked_when_the_device_signs_in(client: TestClient, db: Database) -> None:
    ada = person()
    device = _device()
    assert _consent(client, device, True).status_code == 201
    with db.transaction() as conn:
        assert not can_process(conn, ada.id, "analytics")
    headers = {**ada.headers, "X-Device-ID": device}
    assert client.get("/v1/me", headers=headers).status_code == 200
    assert client.get("/v1/me", headers=headers).status_code == 200  # linked once only
    with db.transaction() as conn:
        rows = conn.execute("select user_id, source from consent_events order by created_at").fetchall()
        assert rows == [{"user_id": None, "source": "banner"}, {"user_id": ada.id, "source": "device_link"}]
        assert can_process(conn, ada.id, "analytics")
    current = client.get(f"/v1/consents/current?device_id={_device()}", headers=ada.headers).json()
    assert current["categories"]["analytics"] is True


def test_the_banner_never_decides_service_improvement_an_account_choice(client: TestClient, db: Database) -> None:
    """ "Accept all" covers cookie categories only: using a person's images to improve the service is asked on its
    own in the account, and a banner choice (accept or reject, on any device) leaves it as the person set it."""
    ada = person()
    onboard(client, ada)
    device = _device()
    accept_all = {"analytics": True, "marketing": True}
    response = _consent(client, device, True, categories=accept_all, headers=ada.headers)
    assert response.status_code == 201, response.text
    assert response.json()["categories"] == {"analytics": True, "marketing": True, "service_improvement": False}
    with db.transaction() as conn:
        assert not can_process(conn, ada.id, "service_improvement")
    saved = client.put("/v1/me/preferences", json={"service_improvement": True}, headers=ada.headers)
    assert saved.status_code == 200, saved.text
    reject = {"analytics": False, "marketing": False}
    response = _consent(client, _device(), False, categories=reject, headers=ada.headers)
    assert response.json()["categories"] == {"analytics": False, "marketing": False, "service_improvement": True}
    with db.transaction() as conn:
        assert can_process(conn, ada.id, "service_improvement")  # the banner did not turn it off
        assert not can_process(conn, ada.id, "analytics")
    assert client.get("/v1/me/preferences", headers=ada.headers).json()["service_improvement"] is True
    # Changing another choice in the account does not pin or flip it either.
    client.put("/v1/me/preferences", json={"analytics": True}, headers=ada.headers)
    assert client.get("/v1/me/preferences", headers=ada.headers).json()["service_improvement"] is True


def test_gpc_counts_as_opt_out(client: TestClient, db: Database) -> None:
    device = _device()
    response = _consent(client, device, True, headers={"Sec-GPC": "1"})
    assert response.status_code == 201
    body = response.json()
    assert body["requested"]["analytics"] is True
    assert body["categories"]["analytics"] is False
    assert body["gpc"] is True
    assert not NON_ESSENTIAL & _set_cookies(response).keys()
    with db.transaction() as conn:
        assert not can_process(conn, None, "analytics", device_id=device)


def _flow(client: TestClient, headers: dict[str, str], device: str, analytics: bool) -> list[Any]:
    """A new user's flow: banner, onboarding, account, notices, an upload and its history, then feature use
    (the generation routes call `record_analytics` the same way the analytics endpoint does)."""
    version = client.get("/v1/policies/current", headers=headers).json()["version"]
    responses = [
        client.post(
            "/v1/consents",
            json={"device_id": device, "categories": {"analytics": analytics}, "notice_version": version},
            headers=headers,
        ),
        client.post(
            "/v1/me/onboarding", json={"age_confirmed": True, "accepted_policy_version": version}, headers=headers
        ),
        client.get("/v1/me", headers=headers),
        client.get("/v1/me/notifications", headers=headers),
        client.get(f"/v1/consents/current?device_id={device}", headers=headers),
        client.post("/v1/uploads", files={"file": ("in.png", plain("PNG"), "image/png")}, headers=headers),
        client.get("/v1/media", headers=headers),
    ]
    for edit in ("text_to_image", "edit", "inpaint", "upscale"):
        responses.append(
            client.post(
                "/v1/analytics/events",
                json={"feature": edit, "model": "flux-schnell", "aspect_ratio": "16:9", "edit_action": "recolor"},
                headers=headers,
            )
        )
    for response in responses:
        assert response.status_code < 300, response.text
    return responses


def _analytics_rows(db: Database) -> int:
    with db.transaction() as conn:
        row = conn.execute("select count(*) as n from analytics_events").fetchone()
    return int(row["n"]) if row else -1


@pytest.mark.parametrize(("analytics", "gpc"), [(False, False), (True, True)], ids=["no-consent", "consent-but-gpc"])
def test_without_consent_or_with_gpc_no_analytics_and_no_optional_cookie(
    client: TestClient, db: Database, analytics: bool, gpc: bool
) -> None:
    ada = person()
    headers = {**ada.headers, "X-Device-ID": (device := _device())}
    if gpc:
        headers["Sec-GPC"] = "1"
    responses = _flow(client, headers, device, analytics)
    assert _analytics_rows(db) == 0
    assert all(r.json()["recorded"] is False for r in responses[-4:])
    for response in responses:
        assert not NON_ESSENTIAL & _set_cookies(response).keys(), response.request.url


def test_with_analytics_consent_events_and_the_analytics_cookie_are_recorded(client: TestClient, db: Database) -> None:
    ada = person()
    headers = {**ada.headers, "X-Device-ID": (device := _device())}
    responses = _flow(client, headers, device, True)
    assert _analytics_rows(db) == 4
    assert "atelier_aid" in _set_cookies(responses[0])
    with db.transaction() as conn:
        row = conn.execute("select user_id, feature, model, aspect_ratio, edit_action from analytics_events").fetchone()
    assert row == {
        "user_id": ada.id,
        "feature": "text_to_image",
        "model": "flux-schnell",
        "aspect_ratio": "16:9",
        "edit_action": "recolor",
    }
    # Withdrawal stops recording at once and expires the cookie the browser holds.
    client.cookies.set("atelier_aid", "abc")
    withdrawn = client.post(
        "/v1/consents",
        json={"device_id": device, "categories": {"analytics": False}, "notice_version": 1},
        headers=headers,
    )
    assert 'atelier_aid=""' in withdrawn.headers["set-cookie"] or "Max-Age=0" in withdrawn.headers["set-cookie"]
    client.cookies.clear()
    assert client.post("/v1/analytics/events", json={"feature": "edit"}, headers=headers).json() == {"recorded": False}
    assert _analytics_rows(db) == 4


def test_cookie_registry_is_published(client: TestClient) -> None:
    body = client.get("/v1/consents/cookies").json()
    names = {c["name"]: c for c in body}
    assert names["atelier_device"]["essential"] is True
    assert names["atelier_aid"]["essential"] is False
    assert names["atelier_aid"]["category"] == "analytics"


def test_onboarded_user_can_read_consent_anonymously_too(client: TestClient) -> None:
    ada = person()
    onboard(client, ada)
    device = _device()
    assert _consent(client, device, True, headers=ada.headers).status_code == 201
    assert client.get(f"/v1/consents/current?device_id={device}").json()["categories"]["analytics"] is True
