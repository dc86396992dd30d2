"""The policy texts shipped with Atelier (version 1 of each kind); read on demand, never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

PolicyKind = Literal["privacy", "terms"]
KINDS: tuple[PolicyKind, ...] = ("privacy", "terms")
_DIR = Path(__file__).parent


def shipped_text(kind: PolicyKind) -> str:
    """The text a fresh deployment starts with as version 1 of `kind`."""
    return (_DIR / f"{kind}.md").read_text(encoding="utf-8")
