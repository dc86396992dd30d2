"""Supabase Auth admin calls (listing, reading and deleting Auth users), over httpx with timeouts and an
injectable transport.

Only Supabase Auth's own answer `404 {"error_code": "user_not_found", ...}` means a user does not exist: a
404 from a wrong `SUPABASE_URL` or a proxy's "route not found" is an error, never "already gone".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from uuid import UUID

from config.settings import Settings
from shared.kit import http

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("atelier.auth_admin")


class AuthAdminError(Exception):
    """The Auth admin API refused or could not be reached."""


class SupabaseAuthAdmin:
    """`DELETE {SUPABASE_URL}/auth/v1/admin/users/{id}` with the secret key. A no-op when Supabase isn't configured."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = settings.supabase_url
        self.secret_key = settings.supabase_secret_key
        self.settings = settings
        self.transport = transport

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.secret_key)

    def _request(self, method: str, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        import httpx  # noqa: PLC0415  (imported by the first call, not with the API: see shared/kit/http.py)

        headers = {"apikey": str(self.secret_key), "Authorization": f"Bearer {self.secret_key}"}
        try:
            with http.client(self.settings, transport=self.transport) as client:
                return client.request(method, f"{self.base_url}/auth/v1{path}", headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise AuthAdminError(f"auth admin unreachable: {type(exc).__name__}") from exc

    def delete_user(self, user_id: UUID) -> bool:
        """Delete the Auth user; True when deleted (or already gone), False when Supabase isn't configured."""
        if not self.configured:
            return False
        response = self._request("DELETE", f"/admin/users/{user_id}")
        if response.is_success or user_not_found(response):
            return True
        raise AuthAdminError(f"auth admin answered {response.status_code}")

    def user_exists(self, user_id: UUID) -> bool:
        """Whether Supabase Auth has this user; only its own "user not found" answer means no."""
        response = self._request("GET", f"/admin/users/{user_id}")
        if response.is_success:
            return True
        if user_not_found(response):
            return False
        raise AuthAdminError(f"auth admin answered {response.status_code}")

    def user_ids(self, *, per_page: int = 1000) -> Iterator[UUID]:
        """Every Auth user's id, page by page (`GET /admin/users?page=&per_page=`); AuthAdminError on any failure."""
        page = 1
        while True:
            response = self._request("GET", "/admin/users", {"page": str(page), "per_page": str(per_page)})
            if not response.is_success:
                raise AuthAdminError(f"auth admin answered {response.status_code} listing users")
            try:
                users = response.json()["users"]
                ids = [UUID(str(user["id"])) for user in users]
            except (ValueError, KeyError, TypeError) as exc:
                raise AuthAdminError("auth admin answered a user list it could not be read") from exc
            yield from ids
            if len(ids) < per_page:
                return
            page += 1


def user_not_found(response: httpx.Response) -> bool:
    """Supabase Auth's own answer for a missing user: 404 with `error_code: user_not_found` (older servers: no
    `error_code`, `msg: "User not found"`)."""
    if response.status_code != 404:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    if "error_code" in body:
        return bool(body["error_code"] == "user_not_found")
    return body.get("msg") == "User not found"
