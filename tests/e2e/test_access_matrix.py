"""The access-control matrix: every route the app serves is declared here, and the declaration is enforced.

For every route (from `app.routes`, so a new route cannot slip past): it is public, or it refuses a
missing token, a malformed token, a token signed with the wrong key and an expired token with 401;
a route with a path parameter also declares how user A creates the resource it names, and user B
must get 404 for it while A gets it. A route missing from MATRIX, or an entry for a route that no
longer exists, fails the suite.

Adding a route: add `("METHOD", "/path/{param}"): Access(...)` to MATRIX. For an id route, give
`create`, a function `(client, headers_of_user_a) -> {"param": value}` that makes A's resource over
HTTP; for a route that reads a body, give a valid `body`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from functions.api.deps import CurrentCaller
from shared.errors import NotFound
from tests.support.tokens import HS256_SECRET, bearer, claims, hs256

Headers = dict[str, str]
Create = Callable[[TestClient, Headers], dict[str, str]]


@dataclass(frozen=True)
class Access:
    public: bool = False
    create: Create | None = None  # id routes: make user A's resource, return the path parameters
    body: dict[str, Any] | None = None  # routes that read a JSON body: a valid one


def _create_export(client: TestClient, headers: Headers) -> dict[str, str]:
    return {"export_id": client.post("/v1/me/exports", headers=headers).json()["id"]}


PUBLIC = Access(public=True)
PRIVATE = Access()

MATRIX: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/v1/me"): PRIVATE,
    ("POST", "/v1/me/exports"): PRIVATE,
    ("GET", "/v1/me/exports/{export_id}"): Access(create=_create_export),
    # Privacy rights (issue 7).
    ("PATCH", "/v1/me"): Access(body={"display_name": "Ada"}),
    ("DELETE", "/v1/me"): PRIVATE,
    ("POST", "/v1/me/deletion/cancel"): PRIVATE,
    ("PUT", "/v1/me/restriction"): Access(body={"restricted": False}),
    ("GET", "/v1/me/preferences"): PRIVATE,
    ("PUT", "/v1/me/preferences"): Access(body={"analytics": False}),
}


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves, included routers flattened."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        if route.path is not None:
            found |= {(method, route.path) for method in (route.methods or ()) if method != "HEAD"}
    return found


def declaration_problems(app: FastAPI, matrix: dict[tuple[str, str], Access]) -> list[str]:
    served = served_routes(app)
    problems = [f"route not in the access matrix: {m} {p}" for m, p in sorted(served - set(matrix))]
    problems += [f"matrix entry for a route that does not exist: {m} {p}" for m, p in sorted(set(matrix) - served)]
    problems += [
        f"id route without a `create` recipe: {m} {p}"
        for (m, p), access in matrix.items()
        if "{" in p and not access.public and access.create is None
    ]
    return problems


def _fill(path: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    return path


def _any_params(path: str) -> dict[str, str]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
    return {name: str(uuid.uuid4()) for name in names}


def _call(client: TestClient, method: str, path: str, access: Access, headers: Headers) -> int:
    return client.request(method, path, headers=headers, json=access.body).status_code


def bad_credentials() -> dict[str, Headers]:
    expired = claims(exp=1_600_000_000, iat=1_599_999_000)
    return {
        "no token": {},
        "malformed token": bearer("not.a.jwt"),
        "wrong scheme": {"Authorization": f"Basic {hs256()}"},
        "wrong key": bearer(hs256(secret="another-projects-secret-of-32-bytes!!")),
        "expired token": bearer(jwt.encode(expired, HS256_SECRET, algorithm="HS256")),
        "wrong audience": bearer(hs256(aud="anon")),
    }


def check_refuses_bad_credentials(client: TestClient, method: str, path: str, access: Access) -> None:
    concrete = _fill(path, _any_params(path))
    for name, headers in bad_credentials().items():
        status = _call(client, method, concrete, access, headers)
        assert status == 401, f"{method} {path} with {name} answered {status}, not 401"


def check_owner_only(client: TestClient, method: str, path: str, access: Access) -> None:
    assert access.create is not None
    user_a, user_b = bearer(hs256(email="a@example.com")), bearer(hs256(email="b@example.com"))
    concrete = _fill(path, access.create(client, user_a))
    own = _call(client, method, concrete, access, user_a)
    assert 200 <= own < 300, f"{method} {path}: the owner got {own}"
    other = _call(client, method, concrete, access, user_b)
    assert other == 404, f"{method} {path}: another user got {other} for the owner's resource, not 404"


def test_every_route_is_declared(app: FastAPI) -> None:
    assert declaration_problems(app, MATRIX) == []


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=str)
def test_route_access(client: TestClient, method: str, path: str) -> None:
    access = MATRIX[(method, path)]
    if access.public:
        params = access.create(client, bearer(hs256())) if access.create else _any_params(path)
        status = _call(client, method, _fill(path, params), access, {})
        assert status < 400, f"public route {method} {path} answered {status} without a token"
        return
    check_refuses_bad_credentials(client, method, path, access)
    if "{" in path:
        check_owner_only(client, method, path, access)
    else:
        status = _call(client, method, path, access, bearer(hs256()))
        assert 200 <= status < 300, f"{method} {path} refused a valid token with {status}"


# The matrix must be able to fail: a scratch router with the mistakes it exists to catch.
_NOTES: dict[str, uuid.UUID] = {}
scratch = APIRouter(prefix="/v1/scratch")


@scratch.post("/notes")
def create_note(caller: CurrentCaller) -> dict[str, str]:
    note_id = str(uuid.uuid4())
    _NOTES[note_id] = caller.account.id
    return {"id": note_id}


@scratch.get("/notes/{note_id}")
def get_note_filtered(note_id: str, caller: CurrentCaller) -> dict[str, str]:
    if _NOTES.get(note_id) != caller.account.id:
        raise NotFound()
    return {"id": note_id}


@scratch.get("/leaky/{note_id}")
def get_note_without_ownership_filter(note_id: str, caller: CurrentCaller) -> dict[str, str]:
    if note_id not in _NOTES:
        raise NotFound()
    return {"id": note_id}


@scratch.get("/open")
def forgot_authentication() -> dict[str, str]:
    return {"secret": "everyone sees this"}


def _create_note(client: TestClient, headers: Headers) -> dict[str, str]:
    return {"note_id": client.post("/v1/scratch/notes", headers=headers).json()["id"]}


def test_the_matrix_catches_missing_entries_leaks_and_missing_auth(app: FastAPI) -> None:
    app.include_router(scratch)
    problems = declaration_problems(app, MATRIX)
    assert "route not in the access matrix: GET /v1/scratch/leaky/{note_id}" in problems
    assert "route not in the access matrix: POST /v1/scratch/notes" in problems
    with TestClient(app) as client:
        note = Access(create=_create_note)
        check_owner_only(client, "GET", "/v1/scratch/notes/{note_id}", note)  # the filtered route passes
        check_refuses_bad_credentials(client, "GET", "/v1/scratch/notes/{note_id}", note)
        with pytest.raises(AssertionError, match="another user got 200"):
            check_owner_only(client, "GET", "/v1/scratch/leaky/{note_id}", note)
        with pytest.raises(AssertionError, match="answered 200, not 401"):
            check_refuses_bad_credentials(client, "GET", "/v1/scratch/open", PRIVATE)
