"""The policy texts shipped with Atelier (version 1 of each kind); read on demand, never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

PolicyKind = Literal["privacy", "terms"]
KINDS: tuple[PolicyKind, ...] = ("privacy", "terms")
_DIR = Path(__file__).parent


# How the privacy policy states ATELIER_IMPROVEMENT_DEFAULT.
IMPROVEMENT_DEFAULT_TEXT: dict[str, str] = {
    "opt_in": "This use is off until you switch it on in your account settings (opt-in).",
    "opt_out": "This use is on until you switch it off in your account settings, which you can do at any time "
    "(opt-out).",
}


def shipped_text(kind: PolicyKind, *, improvement_default: str | None = None) -> str:
    """The text a fresh deployment starts with as version 1 of `kind` (the privacy policy states the
    service-improvement default this deployment is configured with)."""
    text = (_DIR / f"{kind}.md").read_text(encoding="utf-8")
    if kind != "privacy":
        return text
    if improvement_default is None:
        from config.settings import get_settings  # noqa: PLC0415 - settings are read at call time, not import

        improvement_default = get_settings().improvement_default
    return text.replace("{improvement_default}", IMPROVEMENT_DEFAULT_TEXT[improvement_default])
