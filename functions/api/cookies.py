"""The only way the API sets a cookie: through the registry in config/cookies.py, with consent for the optional ones."""

from __future__ import annotations

from fastapi import Request, Response

from config.cookies import cookie


def set_cookie(response: Response, name: str, value: str, *, allowed: bool) -> bool:
    """Set a registered cookie. A non-essential one needs `allowed` (from `can_process`); returns whether it was set."""
    entry = cookie(name)  # KeyError for a cookie nobody registered
    if not entry.essential and not allowed:
        return False
    response.set_cookie(
        name, value, max_age=entry.lifetime_seconds, secure=True, httponly=True, samesite="lax", path="/"
    )
    return True


def clear_cookie(request: Request, response: Response, name: str) -> None:
    """Expire a registered cookie the browser sent (withdrawal)."""
    cookie(name)
    if name in request.cookies:
        response.delete_cookie(name, secure=True, httponly=True, samesite="lax", path="/")
