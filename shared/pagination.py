"""Keyset pagination: opaque cursors over (created_at, id), stable while new rows arrive."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from shared.errors import InvalidCursor

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class Cursor:
    """Position after the last item of a page, newest-first order."""

    created_at: datetime
    id: UUID

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), str(self.id)]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None) -> Cursor | None:
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            created_at, ident = json.loads(raw)
            return cls(datetime.fromisoformat(created_at), UUID(ident))
        except (ValueError, TypeError) as exc:
            raise InvalidCursor() from exc


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_of(rows: list[T], limit: int, key: Callable[[T], Cursor]) -> Page[T]:
    """Cut `limit + 1` fetched rows to a page; the extra row only tells whether another page exists."""
    if len(rows) <= limit:
        return Page(rows, None)
    items = rows[:limit]
    return Page(items, key(items[-1]).encode())
