"""Keyset pagination: opaque cursors over (created_at, id), stable while new rows arrive."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from config.values import value
from shared.kit.errors import InvalidCursor

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# An issued cursor is ~100 characters; the cap is checked before any decoding, so a hostile token (deeply
# nested JSON, megabytes of base64) costs nothing and can never reach the JSON parser's recursion.
MAX_CURSOR_CHARS = 160


@value
class Cursor:
    """Position after the last item of a page, newest-first order."""

    created_at: datetime
    id: UUID

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), str(self.id)]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None) -> Cursor | None:
        """The position a `next_cursor` names; 400 `invalid_cursor` for anything this API did not issue."""
        if not token:
            return None
        if len(token) > MAX_CURSOR_CHARS:
            raise InvalidCursor()
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            created_at, ident = json.loads(raw)
            if not isinstance(created_at, str) or not isinstance(ident, str):
                raise InvalidCursor()
            position = cls(datetime.fromisoformat(created_at), UUID(ident))
        except InvalidCursor:
            raise
        except Exception as exc:
            raise InvalidCursor() from exc
        if position.created_at.tzinfo is None:  # a naive timestamp cannot be compared with timestamptz
            raise InvalidCursor()
        return position


@value
class Page(Generic[T]):
    """One page of a list and the cursor of the next (None on the last page)."""

    items: list[T]
    next_cursor: str | None


def page_of(rows: list[T], limit: int, key: Callable[[T], Cursor]) -> Page[T]:
    """Cut `limit + 1` fetched rows to a page; the extra row only tells whether another page exists."""
    if len(rows) <= limit:
        return Page(rows, None)
    items = rows[:limit]
    return Page(items, key(items[-1]).encode())
