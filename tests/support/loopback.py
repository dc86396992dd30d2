"""A loopback HTTP server standing in for a remote service (Supabase, Polar) at its HTTP boundary."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Recorded], Reply]


@dataclass
class Loopback:
    url: str
    requests: list[Recorded]
    routes: dict[tuple[str, str], Route]


@contextmanager
def serve(handle: Callable[[Recorded], Reply], *, keep_alive: bool = False) -> Iterator[str]:
    """Answer every request on 127.0.0.1 with `handle`; yields the base URL. The one HTTP scaffold of the fakes."""

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            reply = handle(Recorded(self.command, self.path, dict(self.headers), self.rfile.read(length)))
            payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.headers.get("Content-Type", "application/json"))
            for key, value in reply.headers.items():
                if key != "Content-Type":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

    if keep_alive:  # a client that reuses connections (as SDKs do) would otherwise stall on delayed ACKs
        Handler.protocol_version = "HTTP/1.1"
        Handler.disable_nagle_algorithm = True
        Handler.wbufsize = 1 << 16  # one write per response (flushed after each request)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def loopback_server(routes: dict[tuple[str, str], Route] | None = None) -> Iterator[Loopback]:
    """Serve `routes` ((method, path) -> handler) on 127.0.0.1 and record every request."""
    state = Loopback(url="", requests=[], routes=dict(routes or {}))

    def handle(recorded: Recorded) -> Reply:
        state.requests.append(recorded)
        route = state.routes.get((recorded.method, recorded.path.split("?")[0]))
        return route(recorded) if route else Reply(404, {"error": "no such route"})

    with serve(handle) as url:
        state.url = url
        yield state
