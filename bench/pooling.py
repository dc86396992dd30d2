"""The connection pool of the benches that load a server over HTTP (bench/api.py, bench/webhooks.py).

uvicorn closes a connection that stays idle for its keep-alive timeout (`functions.server.KEEP_ALIVE_SECONDS`, 5 s,
for the local stack and, by uvicorn's default, for the bare app). httpx keeps an idle pooled connection for 5 s as
well, and counts from when it has read the answer, which is later than when the server sent it: a request sent on a
connection idle for nearly 5 s can reach a socket the server has just closed, and the client reads a reset
(`httpx.ReadError`, connection reset by peer) or an empty answer (`RemoteProtocolError`). Under load it happens:
a pool hands out its first idle connection, so with fewer requests in flight than connections the last ones sit
idle for seconds (4.9 s measured during the POST /v1/jobs load on a loaded machine). The benches' pools give idle
connections up after a fifth of the server's keep-alive, so the server never closes one a client may still send on.
"""

from __future__ import annotations

import httpx

from functions.server import KEEP_ALIVE_SECONDS

KEEPALIVE_EXPIRY = KEEP_ALIVE_SECONDS / 5  # seconds an idle pooled connection is reused: far below the server's


def pool_limits(connections: int) -> httpx.Limits:
    """At most `connections` connections, each kept while idle for `KEEPALIVE_EXPIRY` seconds."""
    return httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=KEEPALIVE_EXPIRY
    )
