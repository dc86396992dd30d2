from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from enum import Enum
from uuid import UUID

from config.values import value


@value
class Account:
    """An account as its row holds it."""

    id: UUID
    email: str | None
    display_name: str | None
    full_name: str | None
    avatar_url: str | None
    created_at: datetime
    last_active_at: datetime


class Keep(Enum):
    """A field of a correction that was not sent: keep what is stored (None would clear it)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@value
class ProfileCorrection:
    """Rectification (PATCH /v1/me): the profile fields to correct; None clears one, KEEP leaves it."""

    display_name: str | Keep | None = KEEP
    full_name: str | Keep | None = KEEP
    avatar_url: str | Keep | None = KEEP

    def changes(self) -> dict[str, str | None]:
        return {f.name: value for f in fields(self) if not isinstance(value := getattr(self, f.name), Keep)}


@value
class PreferenceChange:
    """Objection and choices (PUT /v1/me/preferences): the choices to change; None leaves one as it is."""

    analytics: bool | None = None
    marketing_emails: bool | None = None
    gallery_display: bool | None = None
    service_improvement: bool | None = None

    def changes(self) -> dict[str, bool]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}
