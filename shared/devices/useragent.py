"""A small user-agent parser: browser family, OS family and device type. Good enough for a security log."""

from __future__ import annotations

import re
from functools import lru_cache

from config.values import value


@value
class DeviceInfo:
    """What a User-Agent says of the device (browser, operating system, kind), each None when unknown."""

    browser: str | None
    os: str | None
    device_type: str | None


_BROWSERS: tuple[tuple[str, str], ...] = (
    (r"Edg(e|A|iOS)?/", "Edge"),
    (r"OPR/|Opera", "Opera"),
    (r"SamsungBrowser/", "Samsung Internet"),
    (r"Firefox/|FxiOS/", "Firefox"),
    (r"Chrome/|CriOS/|Chromium/", "Chrome"),
    (r"Safari/", "Safari"),
    (r"curl/", "curl"),
)
_OSES: tuple[tuple[str, str], ...] = (
    (r"iPad", "iPadOS"),
    (r"iPhone|iPod", "iOS"),
    (r"Android", "Android"),
    (r"CrOS", "ChromeOS"),
    (r"Windows", "Windows"),
    (r"Mac OS X|Macintosh", "macOS"),
    (r"Linux", "Linux"),
)
_BOT = re.compile(r"bot|crawler|spider|slurp", re.IGNORECASE)


def _first(patterns: tuple[tuple[str, str], ...], ua: str) -> str | None:
    for pattern, name in patterns:
        if re.search(pattern, ua):
            return name
    return None


def parse_user_agent(ua: str | None) -> DeviceInfo:
    if not ua:
        return DeviceInfo(None, None, None)
    return _parse(ua[:512])


# Every authenticated request logs its device (up to 14 pattern searches, ~15-20 µs); a client sends the same
# user agent each time, so the answers of the last 1,024 distinct (truncated) strings are kept.
@lru_cache(maxsize=1024)
def _parse(ua: str) -> DeviceInfo:
    browser = _first(_BROWSERS, ua) or "other"
    os_name = _first(_OSES, ua)
    if _BOT.search(ua):
        device = "bot"
    elif os_name == "iPadOS" or "Tablet" in ua or (os_name == "Android" and "Mobile" not in ua):
        device = "tablet"
    elif os_name in ("iOS", "Android") or "Mobi" in ua:
        device = "mobile"
    elif os_name is None:
        device = "other"
    else:
        device = "desktop"
    return DeviceInfo(browser, os_name or "other", device)


_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
_SCREEN = re.compile(r"^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})$")


def preferred_language(accept_language: str | None) -> str | None:
    """The first language tag of Accept-Language (e.g. 'de-CH'), or None."""
    if not accept_language:
        return None
    first = accept_language.split(",")[0].split(";")[0].strip()
    return first if first != "*" and len(first) <= 35 and _LANGUAGE.match(first) else None


def screen_resolution(value: str | None) -> str | None:
    """'1920x1080' from X-Screen-Resolution when well-formed, else None."""
    if not value:
        return None
    match = _SCREEN.match(value.strip().lower())
    return f"{match.group(1)}x{match.group(2)}" if match else None
