"""Signed object URLs as clients receive them."""

from __future__ import annotations

from fastapi import Request


def absolute(request: Request, url: str) -> str:
    """Local signed URLs are paths on this API; give the caller a full URL on the host they called."""
    return f"{str(request.base_url).rstrip('/')}{url}" if url.startswith("/") else url
