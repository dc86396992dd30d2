"""The cookie registry: every cookie the API (or the frontend on its behalf) may set.

Essential cookies need no consent. A non-essential cookie names the consent category that allows it;
the API sets one only when that category is allowed for the caller (and never under `Sec-GPC: 1`).
"""

from __future__ import annotations

from config.values import value


@value
class Cookie:
    """A cookie the site sets: what it is for, how long it lives, the consent it needs."""

    name: str
    purpose: str
    essential: bool
    lifetime_seconds: int | None  # None: ends with the browser session
    category: str | None = None  # the consent category a non-essential cookie needs


# Consent categories POST /v1/consents accepts; all are off until chosen.
CONSENT_CATEGORIES: tuple[str, ...] = ("analytics", "marketing", "service_improvement")
# The ones the cookie banner asks about ("Accept all" covers these only).
COOKIE_CATEGORIES: tuple[str, ...] = ("analytics", "marketing")
# Choices about the account, asked on their own (privacy center), never by the banner: a banner event that does
# not name them leaves them as they were.
ACCOUNT_CATEGORIES: tuple[str, ...] = ("service_improvement",)

COOKIES: tuple[Cookie, ...] = (
    Cookie(
        name="sb-auth-token",
        purpose="keeps you signed in (set by the sign-in provider's client in the browser)",
        essential=True,
        lifetime_seconds=None,
    ),
    Cookie(
        name="atelier_device",
        purpose="a random device id that ties your cookie choices to this browser",
        essential=True,
        lifetime_seconds=365 * 24 * 3600,
    ),
    Cookie(
        name="atelier_aid",
        purpose="a random analytics id that counts feature use across visits",
        essential=False,
        lifetime_seconds=395 * 24 * 3600,  # 13 months
        category="analytics",
    ),
)


def cookie(name: str) -> Cookie:
    for item in COOKIES:
        if item.name == name:
            return item
    raise KeyError(name)
