"""Supabase Auth (GoTrue, supabase/auth) at its HTTP boundary, on a loopback server: what the page's origin
(functions/web_session.py) and the page itself call for sign-in. It mints real HS256 JWTs with the project's issuer.

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
Keys: the publishable key or the secret key in `apikey` (anything else 401 "Invalid API key"). Rate limits are per
client address: the connecting peer, or, when the project enables IP address forwarding
(`security_sb_forwarded_for_enabled`) and the request carries a secret key, the left-most entry of `Sb-Forwarded-For`
if it is an address (GoTrue's sbff middleware; an invalid value is ignored, as is the header with a publishable
key). `limited_as` records the address each /verify and /token counted against.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

from tests.support.loopback import Recorded, Reply, Route
from tests.support.tokens import HS256_SECRET

PUBLISHABLE_KEY = "sb_publishable_test_key"
SECRET_KEY = "sb_secret_test_key"
PEER = "127.0.0.1"  # every request reaches the loopback server from here
LIFETIME_S = 75  # the page refreshes a minute before expiry: after about 15 s here
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "apikey, content-type, authorization"}


def gotrue_error(status: int, error_code: str, msg: str) -> Reply:
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
        self.forwarding_enabled = True  # the project's "Enable IP address forwarding"
        self.limited_as: list[str] = []  # the client address each /verify and /token counted against

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

    def _refused_key(self, rec: Recorded) -> Reply | None:
        if rec.headers.get("apikey") not in (PUBLISHABLE_KEY, SECRET_KEY):
            return Reply(401, {"message": "Invalid API key"}, CORS)
        return None

    def _count(self, rec: Recorded) -> None:
        """The address a per-IP limit counts this request against."""
        found = PEER
        forwarded = {k.lower(): v for k, v in rec.headers.items()}.get("sb-forwarded-for")
        if self.forwarding_enabled and forwarded and rec.headers.get("apikey") == SECRET_KEY:
            with contextlib.suppress(ValueError):  # an invalid value is logged and ignored by GoTrue
                found = str(ipaddress.ip_address(forwarded.split(",")[0].strip()))
        self.limited_as.append(found)

    def otp(self, rec: Recorded) -> Reply:
        if rec.headers.get("apikey") != PUBLISHABLE_KEY:  # the page calls it, with the publishable key
            return Reply(401, {"message": "Invalid API key"}, CORS)
        body = json.loads(rec.body)
        email = str(body.get("email", "")).lower()
        if "@" not in email or "." not in email.split("@")[-1]:
            return gotrue_error(400, "validation_failed", "Unable to validate email address: invalid format")
        if self.resend_wait_s and email in self.codes:
            wait, self.resend_wait_s = self.resend_wait_s, 0
            return gotrue_error(
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
        if refused := self._refused_key(rec):
            return refused
        self._count(rec)
        if self.verify_limited:
            return gotrue_error(429, "over_request_rate_limit", "Request rate limit reached")
        body = json.loads(rec.body)
        email = str(body.get("email", "")).lower()
        assert body.get("type") == "email"
        if email in self.expired or self.codes.get(email) != body.get("token"):
            return gotrue_error(403, "otp_expired", "Token has expired or is invalid")
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
        if refused := self._refused_key(rec):
            return refused
        self._count(rec)
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
