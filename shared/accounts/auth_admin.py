"""Supabase Auth admin calls (deleting an Auth user), over httpx with timeouts and an injectable transport."""

from __future__ import annotations

import logging
from uuid import UUID

import httpx

from config.settings import Settings
from shared import http

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

    def delete_user(self, user_id: UUID) -> bool:
        """Delete the Auth user; True when deleted (or already gone), False when Supabase isn't configured."""
        if not self.configured:
            return False
        headers = {"apikey": str(self.secret_key), "Authorization": f"Bearer {self.secret_key}"}
        try:
            with http.client(self.settings, transport=self.transport) as client:
                response = client.delete(f"{self.base_url}/auth/v1/admin/users/{user_id}", headers=headers)
        except httpx.HTTPError as exc:
            raise AuthAdminError(f"auth admin unreachable: {type(exc).__name__}") from exc
        if response.status_code == 404 or response.is_success:
            return True
        raise AuthAdminError(f"auth admin answered {response.status_code}")
