from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.kit.errors import InvalidCursor
from shared.kit.pagination import Cursor, page_of


def test_cursor_round_trip() -> None:
    cursor = Cursor(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4())
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("token", ["%%%", "bm90LWpzb24", "WzFd", "WyJ4IiwgInkiXQ"])
def test_foreign_cursor_is_refused(token: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(token)


def test_page_of_uses_the_extra_row_only_to_signal_more() -> None:
    now = datetime.now(UTC)
    rows = [(now, uuid.uuid4()) for _ in range(3)]
    page = page_of(rows, 2, key=lambda row: Cursor(*row))
    assert page.items == rows[:2]
    assert page.next_cursor == Cursor(*rows[1]).encode()
    assert page_of(rows, 3, key=lambda row: Cursor(*row)).next_cursor is None
