"""Production sign-in: Google through Supabase Auth with PKCE, and the token refreshed before it expires.

Supabase Auth is played at its HTTP boundary by a loopback server that answers as GoTrue does (authorize
redirects back with `?code=`, `POST /auth/v1/token?grant_type=pkce|refresh_token`), minting real HS256 JWTs with
the project's issuer; the API and the page are the real ones, served together. The page's origin makes the token
requests (functions/web_session.py), so the refresh token never reaches page script.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import uvicorn
from playwright.sync_api import Browser, expect

from config.settings import Settings
from functions.api.app import create_app
from functions.static_site import build_site
from shared.kit.db import Database
from tests.browser.conftest import Tab, new_tab
from tests.support.loopback import Loopback, Recorded, Reply, Route, loopback_server
from tests.support.tokens import HS256_SECRET

PUBLISHABLE_KEY = "sb_publishable_test_key"
LIFETIME_S = 75  # the page refreshes a minute before expiry: after about 15 s here
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "apikey, content-type, authorization"}


class FakeAuth:
    """GoTrue's PKCE and refresh grants for one Google user."""

    def __init__(self) -> None:
        self.url = ""
        self.user_id = uuid.uuid4()
        self.challenges: dict[str, str] = {}
        self.refreshes = 0

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("GET", "/auth/v1/authorize"): self.authorize,
            ("OPTIONS", "/auth/v1/token"): lambda _: Reply(204, b"", CORS),
            ("POST", "/auth/v1/token"): self.token,
        }

    def authorize(self, rec: Recorded) -> Reply:
        query = parse_qs(urlsplit(rec.path).query)
        assert query["provider"] == ["google"]
        assert query["code_challenge_method"] == ["s256"]
        code = uuid.uuid4().hex
        self.challenges[code] = query["code_challenge"][0]
        # (Google's consent screen happens here in real life.)
        return Reply(303, b"", {"Location": f"{query['redirect_to'][0]}?{urlencode({'code': code})}"})

    def session(self, refresh_token: str) -> Reply:
        now = int(time.time())
        claims = {
            "sub": str(self.user_id),
            "email": "grace@example.com",
            "aud": "authenticated",
            "role": "authenticated",
            "iss": f"{self.url}/auth/v1",
            "iat": now,
            "exp": now + LIFETIME_S,
        }
        body = {
            "access_token": jwt.encode(claims, HS256_SECRET, algorithm="HS256"),
            "token_type": "bearer",
            "expires_in": LIFETIME_S,
            "expires_at": now + LIFETIME_S,
            "refresh_token": refresh_token,
            "user": {"id": str(self.user_id), "email": "grace@example.com"},
        }
        return Reply(200, body, CORS)

    def token(self, rec: Recorded) -> Reply:
        if rec.headers.get("apikey") != PUBLISHABLE_KEY:
            return Reply(401, {"message": "Invalid API key"}, CORS)
        grant = parse_qs(urlsplit(rec.path).query)["grant_type"][0]
        body = json.loads(rec.body)
        if grant == "pkce":
            challenge = self.challenges.pop(body["auth_code"], None)
            digest = hashlib.sha256(body["code_verifier"].encode()).digest()
            if challenge is None or base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                return Reply(400, {"error": "invalid_grant", "error_description": "code verifier mismatch"}, CORS)
            return self.session("refresh-1")
        if grant == "refresh_token" and body["refresh_token"] == f"refresh-{self.refreshes + 1}":
            self.refreshes += 1
            return self.session(f"refresh-{self.refreshes + 1}")
        return Reply(400, {"error": "invalid_grant"}, CORS)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path, db: Database) -> Iterator[tuple[str, FakeAuth, Loopback]]:
    fake = FakeAuth()
    with loopback_server(fake.routes()) as auth:
        fake.url = auth.url
        settings = Settings(
            data_dir=tmp_path / "data",
            supabase_url=auth.url,
            supabase_jwt_secret=HS256_SECRET,
            supabase_publishable_key=PUBLISHABLE_KEY,
        )
        app = create_app(settings, db)
        app.mount("/", build_site(settings))
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", fake, auth
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def test_google_sign_in_with_pkce_then_the_token_is_refreshed_before_it_expires(
    browser: Browser, served: tuple[str, FakeAuth, Loopback], tabs: list[Tab]
) -> None:
    base, fake, auth = served
    tab = new_tab(browser, base)
    tabs.append(tab)
    page = tab.page
    tab.open("studio")
    page.get_by_role("region", name="Cookie choices").get_by_role("button", name="Reject optional").click()
    page.get_by_role("button", name="Continue with Google").click()
    # Back from Google: the code was exchanged (the fake checked the verifier against the challenge) and
    # the API accepted the Supabase token: the person is asked to finish onboarding.
    expect(page.get_by_label("Date of birth")).to_be_visible()
    assert "code=" not in page.url  # the one-time code is not left in the address bar
    assert [r.path.split("?")[1] for r in auth.requests if r.method == "POST"] == ["grant_type=pkce"]
    # The refresh token is out of script's reach: not in web storage, not in document.cookie; only in an HttpOnly,
    # SameSite=Strict cookie of the page's own origin, scoped to /auth. The access token is in memory only.
    assert _script_readable(page) == ""
    assert _session_cookie(page) == {"value": "refresh-1", "httpOnly": True, "sameSite": "Strict", "path": "/auth"}

    deadline = time.monotonic() + 40  # (wait_for_function would need 'unsafe-eval', which the CSP refuses)
    while fake.refreshes == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert fake.refreshes == 1
    assert _session_cookie(page)["value"] == "refresh-2"  # rotated by the refresh, still out of reach
    assert _script_readable(page) == ""
    page.get_by_label("Date of birth").fill("1985-12-09")
    page.get_by_role("checkbox", name="I accept the privacy policy and terms").check()
    page.get_by_role("button", name="Continue").click()  # with the refreshed token
    expect(page.get_by_role("textbox", name="Prompt")).to_be_visible()
    assert page.get_by_text("grace@example.com").is_visible()

    page.reload()  # a reload stays signed in: the cookie gives the page a fresh access token
    expect(page.get_by_role("textbox", name="Prompt")).to_be_visible()
    assert fake.refreshes == 2
    assert _session_cookie(page)["value"] == "refresh-3"
    assert _script_readable(page) == ""


def _script_readable(page: Any) -> str:
    """Every token-like value page script can read from storage or cookies."""
    found: str = page.evaluate(
        """() => [document.cookie, ...Object.values(localStorage), ...Object.values(sessionStorage)]
            .filter((v) => /refresh-|eyJ/.test(v)).join("|")"""
    )
    return found


def _session_cookie(page: Any) -> dict[str, Any]:
    [cookie] = [c for c in page.context.cookies() if c["name"] == "atelier_session"]
    return {key: cookie[key] for key in ("value", "httpOnly", "sameSite", "path")}
