"""Words the web app shows: one spelling of each (American "canceled", as the API's job status)."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"


def test_canceled_is_spelled_one_way_in_every_page() -> None:
    found = [
        f"{path.relative_to(WEB)}:{n}"
        for path in sorted(WEB.rglob("*"))
        if path.suffix in (".js", ".html", ".css")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"cancelled", line, re.IGNORECASE)
    ]
    assert found == [], f"'cancelled' in the web app (use 'canceled'): {found}"
