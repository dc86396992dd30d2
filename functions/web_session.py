"""The web app's session, kept where page script cannot read it: `/auth/*` on the web app's own origin.

Before, the page kept its Supabase access and refresh tokens in `localStorage`, where any script running on the
origin (an injected one, a compromised dependency, the docs page's CDN bundle locally) could read and carry off a
refresh token that lives for weeks. Now the page holds only the short-lived access token, in memory; the refresh
token lives in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` over HTTPS), scoped to `/auth`, that this module
sets and reads. This follows Supabase's guidance for browsers: the PKCE flow, with the session stored server-side in
cookies (as its SSR helpers do), except that here the cookie is also HttpOnly because no browser client library
needs to read it.

Routes (POST, JSON, same-origin only: a cross-site request is refused before the cookie is used):
- `/auth/session` `{"auth_code", "code_verifier"}`: trades the PKCE code at Supabase Auth
  (`/auth/v1/token?grant_type=pkce`), keeps the refresh token in the cookie, answers `{access_token, expires_at,
  email}`. With `{"type": "email", "email", "token"}` it verifies the 6-digit code Supabase Auth mailed
  (`/auth/v1/verify`) the same way; Supabase's refusal (`{"code", "error_code", "msg"}`) comes back as
  `error.supabase` with its status, so the page can say what went wrong (wrong or expired code, too many tries).
  Locally (no Supabase) it takes `{"access_token"}`, a development token from `/v1/dev/sign-in`, and keeps that in
  the cookie instead: a reload stays signed in the same way.
- `/auth/refresh`: a fresh access token from the cookie (Supabase's `grant_type=refresh_token`, which rotates the
  refresh token; locally the kept development token while it is valid); 401 and the cookie cleared otherwise.
- `/auth/sign-out`: clears the cookie and, with the access token as bearer, ends the Supabase session.

Supabase Auth limits code checks and refreshes per client address, and these calls all come from this function's
address: alone, one person's retries would spend every person's budget. So with the secret key each call names the
person's address (the one client-address rule, shared/devices/network.py) in `Sb-Forwarded-For`, which Supabase
believes only with a secret key and once the project turns on IP address forwarding (docs/operating.md).

The cookie is first-party because it belongs to the origin that serves the page (the `atelier-web` function, or the
local stack), whatever origin the API has: no third-party cookie, no credentials on the API, which stays bearer-only.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config.settings import Settings
from shared.devices import network
from shared.kit import http

log = logging.getLogger("atelier.web")

COOKIE = "atelier_session"
COOKIE_PATH = "/auth"
SUPABASE_SESSION_SECONDS = 30 * 24 * 3600  # how long the browser keeps the refresh token without a visit
MAX_BODY = 8192


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _same_origin(request: Request) -> bool:
    """A page of this origin, by fetch with a JSON body (which a cross-site form cannot send without a preflight)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return False
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def _claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: only to tell the page when it expires and whose it is (the API verifies)."""
    try:
        part = token.split(".")[1]
        found = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


class WebSession:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.supabase = settings.is_production or bool(settings.supabase_publishable_key)  # as runtime_config says
        self.proxies = network.ProxyRule.of(settings.trusted_proxies, settings.trusted_proxy_hops)

    def routes(self) -> list[Route]:
        return [
            Route("/auth/session", self.start, methods=["POST"]),
            Route("/auth/refresh", self.refresh, methods=["POST"]),
            Route("/auth/sign-out", self.sign_out, methods=["POST"]),
        ]

    # -- the cookie -------------------------------------------------------------------------------------------
    def _keep(self, request: Request, response: Response, value: str, seconds: int) -> None:
        response.set_cookie(
            COOKIE,
            value,
            max_age=max(1, seconds),
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https" or self.settings.is_production,
        )

    def _forget(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            COOKIE,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https" or self.settings.is_production,
        )

    async def _body(self, request: Request) -> dict[str, Any] | None:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return None
        try:
            found = json.loads(raw or b"{}")
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    # -- Supabase Auth ----------------------------------------------------------------------------------------
    def _headers(self, request: Request) -> dict[str, str]:
        """The key for Supabase Auth and, with the secret key, the person's address for its per-address limits."""
        secret = self.settings.supabase_secret_key
        if not secret:  # the publishable key cannot forward an address: the limits are this function's
            return {"apikey": self.settings.supabase_publishable_key or ""}
        peer = request.client.host if request.client else None
        address = network.client_ip(peer, request.headers.get("x-forwarded-for"), self.proxies)
        return {"apikey": secret, **({"Sb-Forwarded-For": str(address)} if address is not None else {})}

    def _grant(self, grant: str, body: dict[str, str], headers: dict[str, str]) -> dict[str, Any] | None:
        """Supabase Auth's token endpoint; None when it refuses (or does not answer)."""
        session, _ = self._auth_post(f"token?grant_type={grant}", body, grant, headers)
        return session

    def _auth_post(
        self, path: str, body: dict[str, str], what: str, headers: dict[str, str]
    ) -> tuple[dict[str, Any] | None, Response | None]:
        """POST to Supabase Auth: (the session, None), or (None, the refusal to hand the page) when it refuses."""
        url = f"{self.settings.supabase_url}/auth/v1/{path}"
        refused = _error(401, "session_refused", "The sign-in service refused the request. Please sign in again.")
        try:
            with http.client(self.settings) as client:
                answer = client.post(url, json=body, headers=headers)
        except Exception as exc:  # unreachable: the page asks the person to sign in again
            log.warning("session refused", extra={"grant": what, "error_class": type(exc).__name__})
            return None, refused
        try:
            found = answer.json()
        except ValueError:
            found = None
        if answer.status_code != 200:
            log.info("session refused", extra={"grant": what, "status": answer.status_code})
            if isinstance(found, dict) and answer.status_code in (400, 403, 422, 429):
                supabase = {key: found.get(key) for key in ("code", "error_code", "msg") if key in found}
                payload = {"code": "session_refused", "message": str(found.get("msg") or ""), "supabase": supabase}
                return None, JSONResponse({"error": payload}, status_code=answer.status_code)
            return None, refused
        if not (isinstance(found, dict) and found.get("access_token")):
            return None, refused
        return found, None

    def _answer(self, request: Request, session: dict[str, Any]) -> Response:
        access = str(session["access_token"])
        claims = _claims(access)
        expires_at = session.get("expires_at") or claims.get("exp") or int(time.time()) + 3600
        user = session.get("user") if isinstance(session.get("user"), dict) else {}
        email = (user or {}).get("email") or claims.get("email")
        response = JSONResponse({"access_token": access, "expires_at": expires_at, "email": email})
        if session.get("refresh_token"):
            self._keep(request, response, str(session["refresh_token"]), SUPABASE_SESSION_SECONDS)
        return response

    # -- routes -----------------------------------------------------------------------------------------------
    async def start(self, request: Request) -> Response:
        if not _same_origin(request):
            return _error(403, "cross_site_refused", "Only this site's own pages may start a session.")
        body = await self._body(request)
        if body is None:
            return _error(422, "invalid_request", "The body must be a small JSON object.")
        return await (self._start_supabase(request, body) if self.supabase else self._start_local(request, body))

    async def _start_supabase(self, request: Request, body: dict[str, Any]) -> Response:
        if body.get("type") == "email":  # the 6-digit code Supabase Auth mailed
            email, token = body.get("email"), body.get("token")
            if not isinstance(email, str) or not isinstance(token, str) or not (0 < len(email) <= 320):
                return _error(422, "invalid_request", "email and token are required.")
            verified, refusal = await run_in_threadpool(
                self._auth_post,
                "verify",
                {"type": "email", "email": email, "token": token},
                "email",
                self._headers(request),
            )
            if verified is None:
                return refusal or _error(401, "session_refused", "The sign-in service refused the request.")
            return self._answer(request, verified)
        code, verifier = body.get("auth_code"), body.get("code_verifier")
        if not isinstance(code, str) or not isinstance(verifier, str):
            return _error(422, "invalid_request", "auth_code and code_verifier are required.")
        pkce = {"auth_code": code, "code_verifier": verifier}
        session = await run_in_threadpool(self._grant, "pkce", pkce, self._headers(request))
        if session is None:
            return _error(401, "session_refused", "The sign-in service refused the request. Please sign in again.")
        return self._answer(request, session)

    async def _start_local(self, request: Request, body: dict[str, Any]) -> Response:
        token = body.get("access_token")  # a development token from /v1/dev/sign-in
        exp = _claims(token).get("exp") if isinstance(token, str) and len(token) < 4096 else None
        if not isinstance(token, str) or not isinstance(exp, int | float) or exp <= time.time():
            return _error(422, "invalid_request", "access_token must be a current development token.")
        response = self._answer(request, {"access_token": token})
        self._keep(request, response, token, int(exp - time.time()))
        return response

    async def refresh(self, request: Request) -> Response:
        if not _same_origin(request):
            return _error(403, "cross_site_refused", "Only this site's own pages may refresh a session.")
        kept = request.cookies.get(COOKIE)
        session: dict[str, Any] | None = None
        if kept and self.supabase:
            session = await run_in_threadpool(
                self._grant, "refresh_token", {"refresh_token": kept}, self._headers(request)
            )
        elif kept:
            exp = _claims(kept).get("exp")
            session = {"access_token": kept} if isinstance(exp, int | float) and exp > time.time() else None
        if session is None:
            response = _error(401, "no_session", "Not signed in.")
            self._forget(request, response)
            return response
        return self._answer(request, session)

    async def sign_out(self, request: Request) -> Response:
        if not _same_origin(request):
            return _error(403, "cross_site_refused", "Only this site's own pages may end a session.")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if self.supabase and scheme.lower() == "bearer" and token.strip():
            await run_in_threadpool(self._logout, token.strip(), self._headers(request))
        response = JSONResponse({"status": "signed_out"})
        self._forget(request, response)
        return response

    def _logout(self, token: str, headers: dict[str, str]) -> None:
        try:
            with http.client(self.settings) as client:
                client.post(
                    f"{self.settings.supabase_url}/auth/v1/logout",
                    headers={**headers, "Authorization": f"Bearer {token}"},
                )
        except Exception as exc:  # the cookie is gone either way; the access token expires on its own
            log.info("sign-out not confirmed", extra={"error_class": type(exc).__name__})
