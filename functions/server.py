"""How the local stack serves the API with uvicorn: no proxy-header rewriting, and slow clients cut off.

- uvicorn's own proxy-header handling is off (`proxy_headers=False`, no forwarded IPs trusted): on by
  default it believes `X-Forwarded-For` from loopback peers and replaces the client address before the
  app sees it. Which proxies are believed is `ATELIER_TRUSTED_PROXIES`' decision alone
  (`shared.devices.network.client_ip`).
- uvicorn has no header or body read timeout, so a client that trickles bytes holds a connection forever.
  `ReadTimeoutH11Protocol` closes a connection whose request headers are not complete within the read
  timeout of its first byte (or of the connection itself), and one whose request body stalls for longer
  than that between two chunks (unless the app is not reading, which pauses the socket instead).
- A connection idle between requests is closed after `KEEP_ALIVE_SECONDS` (uvicorn's default). A client that
  sends on a pooled connection idle for about that long races the close and reads a reset (httpx keeps idle
  connections 5 s by default: the same figure), so the benches' clients give theirs up well before
  (`bench/pooling.py`; docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

KEEP_ALIVE_SECONDS = 5  # uvicorn's default, named for the clients that must give idle connections up sooner


class ReadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for request headers and an idle limit for request bodies."""

    read_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = False
        self._watch_reads()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_reads()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._cancel_read_timer()  # idle between requests: uvicorn's keep-alive timeout applies

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def _watch_reads(self) -> None:
        state = self.conn.their_state
        if state is h11.IDLE and (self.cycle is None or self.cycle.response_complete):
            if not self._awaiting_headers:  # a deadline from the first byte, never extended by more trickling
                self._awaiting_headers = True
                self._arm()
        elif state is h11.SEND_BODY:
            self._awaiting_headers = False
            self._arm()  # idle limit: every chunk that arrives restarts it
        else:
            self._awaiting_headers = False
            self._cancel_read_timer()

    def _arm(self) -> None:
        self._cancel_read_timer()
        self._read_timer = self.loop.call_later(self.read_timeout, self._on_read_timeout)

    def _cancel_read_timer(self) -> None:
        timer = getattr(self, "_read_timer", None)
        if timer is not None:
            timer.cancel()
            self._read_timer = None

    def _on_read_timeout(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY and self.flow.read_paused:
            self._arm()  # the app is not reading yet (back-pressure), the client is not the slow one
            return
        self.transport.close()


def server_config(app: Any, *, host: str, port: int, read_timeout: float) -> uvicorn.Config:
    """The uvicorn configuration of the local stack (and of the tests that exercise it)."""
    protocol = type("ReadTimeoutProtocol", (ReadTimeoutH11Protocol,), {"read_timeout": read_timeout})
    # Logging is configured by the caller (deploy.py: shared.logs.configure_logging); uvicorn adds no handlers
    # of its own and no access log: the API's access-log middleware writes one redacted record per request.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        http=protocol,
        proxy_headers=False,
        forwarded_allow_ips=[],
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
