"""A loopback stand-in for Supabase Auth's admin user API (`/auth/v1/admin/users`), answering as Supabase Auth does.

- `GET /auth/v1/admin/users?page=&per_page=` → 200 `{"users": [...], "aud": "authenticated"}` with
  `X-Total-Count` and a `Link` header; pages past the end are empty.
- `GET` / `DELETE /auth/v1/admin/users/{id}` → 200 (the user; `{}` after a delete), or 404
  `{"code": 404, "error_code": "user_not_found", "msg": "User not found"}`; an id that is not a UUID is
  404 `validation_failed` "user_id must be an UUID".
- A missing or wrong service key → 401 `no_authorization`/`bad_jwt`; any other path → 404 `404 page not found`
  (text, the router's own answer).
`fail_listing` makes the list answer 500 `unexpected_failure`; `hidden_from_listing` leaves users out of the
pages (as a page boundary shifting under a concurrent delete would) while they still exist.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import Recorded, Reply, serve

SECRET_KEY = "sb_secret_test-auth-admin-key"
USERS = "/auth/v1/admin/users"


@dataclass
class FakeAuthAdmin:
    url: str = ""
    users: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    fail_listing: bool = False
    hidden_from_listing: set[uuid.UUID] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, user_id: uuid.UUID) -> None:
        with self.lock:
            self.users[user_id] = {"id": str(user_id), "aud": "authenticated", "role": "authenticated"}

    def remove(self, user_id: uuid.UUID) -> None:
        with self.lock:
            self.users.pop(user_id, None)


def _not_found() -> tuple[int, Any, dict[str, str]]:
    return 404, {"code": 404, "error_code": "user_not_found", "msg": "User not found"}, {}


def _handle(api: FakeAuthAdmin, rec: Recorded) -> tuple[int, Any, dict[str, str]]:  # noqa: PLR0911 - one route table
    parts = urlsplit(rec.path)
    headers = {name.lower(): value for name, value in rec.headers.items()}
    if not parts.path.startswith(USERS):
        return 404, b"404 page not found\n", {"Content-Type": "text/plain; charset=utf-8"}
    if "authorization" not in headers:
        return 401, {"code": 401, "error_code": "no_authorization", "msg": "This endpoint requires a Bearer token"}, {}
    if headers.get("authorization") != f"Bearer {SECRET_KEY}" or headers.get("apikey") != SECRET_KEY:
        return (
            401,
            {"code": 401, "error_code": "bad_jwt", "msg": "invalid JWT: unable to parse or verify signature"},
            {},
        )
    rest = parts.path[len(USERS) :].strip("/")
    with api.lock:
        if not rest and rec.method == "GET":
            if api.fail_listing:
                return 500, {"code": 500, "error_code": "unexpected_failure", "msg": "Database error finding users"}, {}
            query = parse_qs(parts.query)
            page, per_page = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["50"])[0])
            visible = [user for user_id, user in api.users.items() if user_id not in api.hidden_from_listing]
            chunk = visible[(page - 1) * per_page : page * per_page]
            total = {"X-Total-Count": str(len(visible)), "Link": f'<{USERS}?page={page + 1}>; rel="next"'}
            return 200, {"users": chunk, "aud": "authenticated"}, total
        try:
            user_id = uuid.UUID(rest)
        except ValueError:
            return 404, {"code": 404, "error_code": "validation_failed", "msg": "user_id must be an UUID"}, {}
        if user_id not in api.users:
            return _not_found()
        if rec.method == "GET":
            return 200, api.users[user_id], {}
        if rec.method == "DELETE":
            del api.users[user_id]
            return 200, {}, {}
    return 405, {"code": 405, "error_code": "unexpected_failure", "msg": "Method not allowed"}, {}


@contextmanager
def fake_auth_admin() -> Iterator[FakeAuthAdmin]:
    api = FakeAuthAdmin()

    def handle(rec: Recorded) -> Reply:
        with api.lock:
            api.requests.append(rec)
        status, body, headers = _handle(api, rec)
        return Reply(status, body, headers)

    with serve(handle) as url:
        api.url = url
        yield api
