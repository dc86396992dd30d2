"""The one way Atelier makes outbound HTTP calls (Polar, Supabase Storage and Auth admin): always with timeouts.

A remote service that hangs must not hold an API request or a worker forever. `client(settings)`
gives an `httpx.Client` whose connect, read, write and pool waits are bounded by
`ATELIER_HTTP_TIMEOUT_SECONDS` (connect at most 5 s); pass it to the SDKs that accept an injected client.

httpx is imported by the first outbound call, not with the API: importing it also loads its command-line tool
(rich and pygments, installed with modal), about 60 ms of CPU, a tenth of the API's import, and the API's
common requests make no outbound call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from config.settings import Settings

if TYPE_CHECKING:
    import httpx

MAX_CONNECT_SECONDS = 5.0


def bounded(seconds: float) -> httpx.Timeout:
    """Connect, read, write and pool waits each at most `seconds` (connect at most MAX_CONNECT_SECONDS)."""
    if seconds <= 0:
        raise ValueError("an outbound timeout must be positive (0 or None would mean: wait forever)")
    import httpx  # noqa: PLC0415  (lazy: see the module's docstring)

    return httpx.Timeout(seconds, connect=min(MAX_CONNECT_SECONDS, seconds))


def timeout(settings: Settings) -> httpx.Timeout:
    return bounded(settings.http_timeout_seconds)


def client_with(
    seconds: float,
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    follow_redirects: bool = False,
) -> httpx.Client:
    """The only place an `httpx.Client` is made (a test holds every other module to that)."""
    import httpx  # noqa: PLC0415  (lazy: see the module's docstring)

    return httpx.Client(
        base_url=base_url,
        headers=headers,
        timeout=bounded(seconds),
        transport=transport,
        follow_redirects=follow_redirects,
    )


def client(
    settings: Settings,
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client with Atelier's timeouts; `transport` lets tests inject a loopback or mock transport."""
    return client_with(settings.http_timeout_seconds, base_url=base_url, headers=headers, transport=transport)
