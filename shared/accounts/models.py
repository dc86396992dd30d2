from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class Account:
    id: UUID
    email: str | None
    display_name: str | None
    full_name: str | None
    avatar_url: str | None
    created_at: datetime
    last_active_at: datetime
