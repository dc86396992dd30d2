"""The policy texts shipped with Atelier, rendered for this deployment; read on demand, never at import.

`config/policies/<kind>.md` is a template: its tables (purposes, recipients, cookies), retention periods,
controller, supervisory authority and the terms' numbers are placeholders filled by `config/policies/render.py`
from what the code enforces. The rendered text is what is stored and published as a version.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from config.settings import Settings

PolicyKind = Literal["privacy", "terms"]
KINDS: tuple[PolicyKind, ...] = ("privacy", "terms")
_DIR = Path(__file__).parent


# How the privacy policy states ATELIER_IMPROVEMENT_DEFAULT.
IMPROVEMENT_DEFAULT_TEXT: dict[str, str] = {
    "opt_in": "This use is off until you switch it on in your account settings (opt-in).",
    "opt_out": "This use is on until you switch it off in your account settings, which you can do at any time "
    "(opt-out).",
}

# What changed in the shipped text since the previous shipped version, for `deploy.py policy publish` (shown on
# the accept page with the version).
SHIPPED_SUMMARY: dict[PolicyKind, str] = {
    "privacy": (
        "We now name the controller and how to reach them, give the legal basis and retention period of each "
        "purpose, list every recipient with where your data goes and the safeguard for transfers outside the EEA, "
        "explain automated moderation decisions and how to appeal them, and say how to complain to a supervisory "
        "authority. Images made from your uploads never enter the service-improvement dataset."
    ),
    "terms": (
        "The terms now state how long sign-up credits last, what a refund does to credits, and that moderation "
        "decisions can be appealed."
    ),
}


def template(kind: PolicyKind) -> str:
    return (_DIR / f"{kind}.md").read_text(encoding="utf-8")


def shipped_text(kind: PolicyKind, *, improvement_default: str | None = None, settings: Settings | None = None) -> str:
    """The text a fresh deployment starts with as version 1 of `kind`, rendered with this deployment's settings
    (`improvement_default` overrides ATELIER_IMPROVEMENT_DEFAULT)."""
    return render_text(template(kind), kind=kind, improvement_default=improvement_default, settings=settings)


def render_text(
    text: str, *, kind: PolicyKind, improvement_default: str | None = None, settings: Settings | None = None
) -> str:
    """Fill the placeholders of a policy text (a published file goes through the same rendering)."""
    from config.policies.render import render  # noqa: PLC0415 - settings and tables are read at call time
    from config.settings import get_settings  # noqa: PLC0415

    settings = settings or get_settings()
    if improvement_default is not None:
        settings = settings.model_copy(update={"improvement_default": improvement_default})
    return render(text, kind=kind, settings=settings)
