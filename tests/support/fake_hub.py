"""A loopback stand-in for the Hugging Face Hub's HTTP API: repositories with branches, commits and files.

It answers what `huggingface_hub` asks when resolving a revision and downloading a snapshot: the model info
(`/api/models/{repo}/revision/{revision}`, with the commit `sha` and the file list), the file tree
(`/api/models/{repo}/tree/{revision}`) and the files (`/{repo}/resolve/{commit}/{name}`, HEAD and GET, with
`X-Repo-Commit` and `ETag`), and what the Hub refuses: an unknown repository or revision is a 404 with the Hub's
`X-Error-Code` header.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass
class FakeHub:
    url: str = ""
    branches: dict[str, dict[str, str]] = field(default_factory=dict)  # repo -> branch -> commit
    files: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)  # (repo, commit) -> name -> data
    requests: list[tuple[str, str]] = field(default_factory=list)

    def commit(self, repo: str, branch: str, files: dict[str, bytes]) -> str:
        """Push a commit of `files` to `branch`; returns its 40-hex id."""
        sha = hashlib.sha1(json.dumps([repo, branch, len(self.files), sorted(files)]).encode()).hexdigest()  # noqa: S324
        self.branches.setdefault(repo, {})[branch] = sha
        self.files[(repo, sha)] = dict(files)
        return sha

    def resolve(self, repo: str, revision: str) -> str | None:
        if (repo, revision) in self.files:
            return revision
        return self.branches.get(repo, {}).get(revision)


def _route(hub: FakeHub, method: str, path: str) -> tuple[int, dict[str, str], bytes]:  # noqa: PLR0911 - routes
    if path.startswith("/api/models/") and "/revision/" in path:
        repo, _, revision = path.removeprefix("/api/models/").partition("/revision/")
        sha = hub.resolve(repo, revision)
        if sha is None:
            return 404, {"X-Error-Code": "RevisionNotFound"}, b'{"error": "Invalid rev id"}'
        siblings = [{"rfilename": name} for name in sorted(hub.files[(repo, sha)])]
        body = json.dumps({"id": repo, "modelId": repo, "sha": sha, "siblings": siblings, "private": False})
        return 200, {"Content-Type": "application/json"}, body.encode()
    if path.startswith("/api/models/") and "/tree/" in path:
        repo, _, revision = path.removeprefix("/api/models/").partition("/tree/")
        sha = hub.resolve(repo, revision)
        if sha is None:
            return 404, {"X-Error-Code": "RevisionNotFound"}, b'{"error": "Invalid rev id"}'
        tree = [
            {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}  # noqa: S324
            for name, data in sorted(hub.files[(repo, sha)].items())
        ]
        return 200, {"Content-Type": "application/json"}, json.dumps(tree).encode()
    if "/resolve/" in path:
        repo, _, rest = path.lstrip("/").partition("/resolve/")
        revision, _, name = rest.partition("/")
        sha = hub.resolve(repo, revision)
        data = hub.files.get((repo, sha or ""), {}).get(name)
        if sha is None or data is None:
            return 404, {"X-Error-Code": "EntryNotFound"}, b'{"error": "Entry not found"}'
        etag = hashlib.sha256(data).hexdigest()
        headers = {"X-Repo-Commit": sha, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}
        return 200, headers, data
    return 404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "Repository not found"}'


@contextmanager
def fake_hub() -> Iterator[FakeHub]:
    hub = FakeHub()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, with_body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append((self.command, path))
            status, headers, body = _route(hub, self.command, path)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._reply(with_body=True)

        def do_HEAD(self) -> None:
            self._reply(with_body=False)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
