"""The one way Atelier makes outbound HTTP calls (Polar, Supabase Storage and Auth admin): always with timeouts.

A remote service that hangs must not hold an API request or a worker forever. `client(settings)`
gives an `httpx.Client` whose connect, read, write and pool waits are bounded by
`ATELIER_HTTP_TIMEOUT_SECONDS` (connect at most 5 s); pass it to the SDKs that accept an injected client.
"""

from __future__ import annotations

import httpx

from config.settings import Settings

MAX_CONNECT_SECONDS = 5.0


def timeout(settings: Settings) -> httpx.Timeout:
    total = settings.http_timeout_seconds
    return httpx.Timeout(total, connect=min(MAX_CONNECT_SECONDS, total))


def client(
    settings: Settings,
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client with Atelier's timeouts; `transport` lets tests inject a loopback or mock transport."""
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout(settings), transport=transport)
