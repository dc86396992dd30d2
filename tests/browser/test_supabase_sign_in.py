"""Production sign-in: Google through Supabase Auth with PKCE, or an email address and a one-time code; the token
refreshed before it expires.

Supabase Auth is played at its HTTP boundary by a loopback server that answers as GoTrue (supabase/auth) does,
minting real HS256 JWTs with the project's issuer; the API and the page are the real ones, served together:

- `GET /auth/v1/authorize?provider=google&redirect_to=&code_challenge=&code_challenge_method=s256`: 303 back
  to `redirect_to?code=…`.
- `POST /auth/v1/token?grant_type=pkce {"auth_code", "code_verifier"}` and `?grant_type=refresh_token
  {"refresh_token"}`: 200 with the session `{"access_token", "token_type": "bearer", "expires_in", "expires_at",
  "refresh_token", "user": {"id", "email", …}}`; 400 `{"error": "invalid_grant", "error_description"}`.
- `POST /auth/v1/otp {"email", "create_user": true, "code_challenge", "code_challenge_method"}`: 200 `{}` and
  the 6-digit code mailed (here: kept in `codes`). Errors are GoTrue's `HTTPError` JSON `{"code": <status>,
  "error_code": "...", "msg": "..."}` (internal/api/errors.go): 400 `validation_failed` "Unable to validate email
  address: invalid format"; 429 `over_email_send_rate_limit` "For security purposes, you can only request this
  after 42 seconds." (a new code for the same address within the minimum interval).
- `POST /auth/v1/verify {"type": "email", "email", "token"}`: 200 with the session (the user created on first
  use); a wrong, used or expired code alike 403 `otp_expired` "Token has expired or is invalid" (GoTrue does not
  say which); too many tries 429 `over_request_rate_limit` "Request rate limit reached".
Every answer carries CORS headers, and the preflight (`OPTIONS`) answers 204.
The page's origin verifies the code and trades the PKCE code (functions/web_session.py), so the refresh token
never reaches page script.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
import uvicorn
from playwright.sync_api import Browser, expect

from config.settings import Settings
from functions.api.app import create_app
from functions.static_site import build_site
from shared.kit.db import Database
from tests.browser.conftest import Tab, access_token, new_tab
from tests.support.loopback import Loopback, Recorded, Reply, Route, loopback_server
from tests.support.tokens import HS256_SECRET

PUBLISHABLE_KEY = "sb_publishable_test_key"
LIFETIME_S = 75  # the page refreshes a minute before expiry: after about 15 s here
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "apikey, content-type, authorization"}


def _gotrue_error(status: int, error_code: str, msg: str) -> Reply:
    """GoTrue's error body (HTTPError in internal/api/errors.go: `code`, `error_code`, `msg`)."""
    return Reply(status, {"code": status, "error_code": error_code, "msg": msg}, CORS)


class FakeAuth:
    """GoTrue's PKCE and refresh grants for one Google user, and email one-time codes (users made on first use)."""

    def __init__(self) -> None:
        self.url = ""
        self.user_id = uuid.uuid4()
        self.email = "grace@example.com"
        self.challenges: dict[str, str] = {}
        self.refreshes = 0
        self.codes: dict[str, str] = {}  # the mailbox: the latest code sent to each address
        self.users: dict[str, uuid.UUID] = {}
        self.expired: set[str] = set()  # addresses whose code has run out
        self.resend_wait_s = 0  # > 0: the next /otp for an address that has a code is refused with this wait
        self.verify_limited = False  # True: /verify answers over_request_rate_limit
        self.email_sessions: dict[str, tuple[uuid.UUID, str]] = {}  # refresh token -> user of an email sign-in

    def routes(self) -> dict[tuple[str, str], Route]:
        preflight: Route = lambda _: Reply(204, b"", CORS)  # noqa: E731
        return {
            ("GET", "/auth/v1/authorize"): self.authorize,
            ("OPTIONS", "/auth/v1/token"): preflight,
            ("POST", "/auth/v1/token"): self.token,
            ("OPTIONS", "/auth/v1/otp"): preflight,
            ("POST", "/auth/v1/otp"): self.otp,
            ("OPTIONS", "/auth/v1/verify"): preflight,
            ("POST", "/auth/v1/verify"): self.verify,
        }

    def otp(self, rec: Recorded) -> Reply:
        if rec.headers.get("apikey") != PUBLISHABLE_KEY:
            return Reply(401, {"message": "Invalid API key"}, CORS)
        body = json.loads(rec.body)
        email = str(body.get("email", "")).lower()
        if "@" not in email or "." not in email.split("@")[-1]:
            return _gotrue_error(400, "validation_failed", "Unable to validate email address: invalid format")
        if self.resend_wait_s and email in self.codes:
            wait, self.resend_wait_s = self.resend_wait_s, 0
            return _gotrue_error(
                429,
                "over_email_send_rate_limit",
                f"For security purposes, you can only request this after {wait} seconds.",
            )
        assert body.get("create_user") is True
        assert body.get("code_challenge_method") == "s256"  # PKCE kept (a magic link comes back with ?code=)
        assert body.get("code_challenge")
        self.codes[email] = f"{secrets.randbelow(10**6):06d}"
        self.expired.discard(email)
        return Reply(200, {}, CORS)

    def verify(self, rec: Recorded) -> Reply:
        if rec.headers.get("apikey") != PUBLISHABLE_KEY:
            return Reply(401, {"message": "Invalid API key"}, CORS)
        if self.verify_limited:
            return _gotrue_error(429, "over_request_rate_limit", "Request rate limit reached")
        body = json.loads(rec.body)
        email = str(body.get("email", "")).lower()
        assert body.get("type") == "email"
        if email in self.expired or self.codes.get(email) != body.get("token"):
            return _gotrue_error(403, "otp_expired", "Token has expired or is invalid")
        del self.codes[email]  # a code works once
        user = self.users.setdefault(email, uuid.uuid4())  # created on first use
        return self.email_session(user, email)

    def email_session(self, user: uuid.UUID, email: str) -> Reply:
        refresh_token = f"email-refresh-{secrets.token_hex(8)}"
        self.email_sessions[refresh_token] = (user, email)
        return self.session(refresh_token, user_id=user, email=email)

    def authorize(self, rec: Recorded) -> Reply:
        query = parse_qs(urlsplit(rec.path).query)
        assert query["provider"] == ["google"]
        assert query["code_challenge_method"] == ["s256"]
        code = uuid.uuid4().hex
        self.challenges[code] = query["code_challenge"][0]
        # (Google's consent screen happens here in real life.)
        return Reply(303, b"", {"Location": f"{query['redirect_to'][0]}?{urlencode({'code': code})}"})

    def session(self, refresh_token: str, *, user_id: uuid.UUID | None = None, email: str | None = None) -> Reply:
        now = int(time.time())
        user_id, email = user_id or self.user_id, email or self.email
        claims = {
            "sub": str(user_id),
            "email": email,
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
            "user": {"id": str(user_id), "aud": "authenticated", "role": "authenticated", "email": email},
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
        if grant == "refresh_token" and body["refresh_token"] in self.email_sessions:  # rotated, as GoTrue does
            return self.email_session(*self.email_sessions.pop(body["refresh_token"]))
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


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_email_sign_in_with_a_one_time_code_creates_the_account_and_says_what_went_wrong(
    browser: Browser, served: tuple[str, FakeAuth, Loopback], tabs: list[Tab], viewport: str
) -> None:
    base, fake, auth = served
    tab = new_tab(browser, base, viewport)
    tabs.append(tab)
    page = tab.page
    address = f"lin-{uuid.uuid4().hex[:6]}@example.com"
    tab.open("studio")
    page.get_by_role("region", name="Cookie choices").get_by_role("button", name="Reject optional").click()
    expect(page.get_by_role("button", name="Continue with Google")).to_be_visible()  # beside Google
    page.get_by_role("textbox", name="Email").fill(address)
    tab.check("sign-in-email")
    page.get_by_role("button", name="Send code").click()
    code = page.get_by_role("textbox", name="Code")
    expect(code).to_be_visible()
    assert address in fake.codes
    tab.check("sign-in-code")

    # Supabase's own limits and refusals, each in words a person can act on.
    fake.resend_wait_s = 42
    page.get_by_role("button", name="Send a new code").click()
    expect(page.get_by_role("status").filter(has_text="another in 42 seconds")).to_be_visible()
    code.fill("000000" if fake.codes[address] != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    alert = page.get_by_role("alert").filter(has_text=re.compile(r"\S"))
    expect(alert).to_have_text("That code is wrong or has expired. Check the newest email from us, or send a new code.")
    fake.expired.add(address)
    code.fill(fake.codes[address])
    page.get_by_role("button", name="Verify").click()
    expect(alert).to_contain_text("wrong or has expired")
    fake.expired.discard(address)
    fake.verify_limited = True
    page.get_by_role("button", name="Verify").click()
    expect(alert).to_contain_text("Too many attempts. Please wait a few minutes")
    fake.verify_limited = False

    page.get_by_role("button", name="Verify").click()
    # The code became a session the API accepts: the new account is asked to finish onboarding, as with Google.
    expect(page.get_by_label("Date of birth")).to_be_visible()
    # The refresh token stays in the origin's HttpOnly cookie; page script can read no token.
    assert _session_cookie(page)["value"].startswith("email-refresh-")
    assert _script_readable(page) == ""
    me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {access_token(page)}"}).json()
    assert (me["id"], me["email"]) == (str(fake.users[address]), address)
    posted = [(r.path, json.loads(r.body)) for r in auth.requests if r.method == "POST" and "/token" not in r.path]
    assert [path for path, _ in posted].count("/auth/v1/verify") == 4
    assert all(body["email"] == address for _, body in posted)
