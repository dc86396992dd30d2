"""The access-control matrix: every route the app serves is declared here, and the declaration is enforced.

For every route (from `app.routes`, so a new route cannot slip past): it is public, or it refuses every
entry of REFUSALS (a missing token, a malformed token, a token signed with the wrong key, an expired
token, ...); a route with a path parameter also declares how user A creates the resource it names, and
user B must get 404 for it while A gets it. A route missing from MATRIX, or an entry for a route that no
longer exists, fails the suite.

Adding a route: add `("METHOD", "/path/{param}"): Access(...)` to MATRIX. For an id route, give
`create`, a function `(client, headers_of_user_a) -> {"param": value}` that makes A's resource over
HTTP; for a route that reads a body, give a valid `body` (JSON), or `form`/`files` (multipart).

Adding a way to be refused (e.g. a locked account): write one function `(client) -> headers` that sets the
situation up and returns the headers of a request that must be refused, and add it to REFUSALS with the
status every private route must answer.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from PIL import Image

from config.settings import Settings
from config.values import value
from functions.api.app import create_app
from functions.api.deps import CurrentCaller
from shared.kit.db import Database
from shared.kit.errors import NotFound
from shared.media import service as media
from shared.notify import policy_update
from tests.support import polar
from tests.support.tokens import HS256_SECRET, bearer, claims, hs256

Headers = dict[str, str]
Create = Callable[[TestClient, Headers], dict[str, str]]
Files = dict[str, tuple[str, bytes, str]]


@value
class Access:
    public: bool = False
    create: Create | None = None  # id routes: make user A's resource, return the path parameters
    body: dict[str, Any] | None = None  # routes that read a JSON body: a valid one
    query: dict[str, str] | None = None  # required query parameters
    form: dict[str, str] | None = None  # multipart routes: the text fields
    files: Callable[[], Files] | None = None  # multipart routes: the file parts
    send: Callable[[TestClient, str, Headers], Response] | None = None  # a request built another way


def _create_export(client: TestClient, headers: Headers) -> dict[str, str]:
    return {"export_id": client.post("/v1/me/exports", headers=headers).json()["id"]}


PUBLIC = Access(public=True)
PRIVATE = Access()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _image() -> Files:
    return {"file": ("photo.png", png(), "image/png")}


def _attachment() -> Files:
    return {"attachments": ("screenshot.png", png(), "image/png")}


def _json(response: Response) -> Any:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


def _account_id(client: TestClient, headers: Headers) -> uuid.UUID:
    return uuid.UUID(_json(client.get("/v1/me", headers=headers))["id"])


# --- create recipes: user A's resource, made over HTTP where the API offers a way ------------------------------


def create_upload(client: TestClient, headers: Headers) -> dict[str, str]:
    _onboard(client, headers)  # uploading creates content: members only
    return {"media_id": _json(client.post("/v1/uploads", headers=headers, files=_image()))["id"]}


def create_output(client: TestClient, headers: Headers) -> dict[str, str]:
    """A generated image, stored as the worker stores a job's output (rendering is not what this test is about)."""
    job_id = uuid.UUID(create_job(client, headers)["job_id"])
    user_id = _account_id(client, headers)
    app: Any = client.app
    with app.state.db.transaction() as conn:
        item = media.store_output(
            conn,
            app.state.storage,
            user_id=user_id,
            job_id=job_id,
            data=png(),
            content_type="image/png",
            width=16,
            height=12,
            task="text_to_image",
            model="flux-schnell",
            prompt="a lighthouse",
        )
    return {"media_id": str(item.id)}


def _onboard(client: TestClient, headers: Headers) -> None:
    version = _json(client.get("/v1/policies/current"))["version"]
    body = {"age_confirmed": True, "accepted_policy_version": version}
    response = client.post("/v1/me/onboarding", json=body, headers=headers)
    assert response.status_code in (200, 409), response.text


JOB = {"task": "text_to_image", "prompt": "a lighthouse"}


def create_job(client: TestClient, headers: Headers) -> dict[str, str]:
    """A queued job (the matrix app has no workers): onboarding first, as generation requires."""
    _onboard(client, headers)
    return {"job_id": _json(client.post("/v1/jobs", headers=headers, json=JOB))["id"]}


def create_finished_job(client: TestClient, headers: Headers) -> dict[str, str]:
    """A canceled job: its event stream answers at once and ends (a queued job's would wait for it)."""
    params = create_job(client, headers)
    _json(client.post(f"/v1/jobs/{params['job_id']}/cancel", headers=headers))
    return params


def as_member(method: str, access: Access) -> Access:
    """A route that needs onboarding: the caller tries onboarding first (refused like any call for a bad token
    or a locked account, which the request itself must then be refused for too), then sends `access`."""

    def send(client: TestClient, path: str, headers: Headers) -> Response:
        version = _json(client.get("/v1/policies/current"))["version"]
        body = {"age_confirmed": True, "accepted_policy_version": version}
        client.post("/v1/me/onboarding", json=body, headers=headers)
        files = access.files() if access.files else None
        return client.request(method, path, headers=headers, json=access.body, data=access.form, files=files)

    return Access(send=send)


def send_job(client: TestClient, path: str, headers: Headers) -> Response:
    """POST /v1/jobs as a member: the caller tries onboarding first (refused like any call for a bad token or a
    locked account, which the job request must then be refused for too)."""
    version = _json(client.get("/v1/policies/current"))["version"]
    client.post("/v1/me/onboarding", json={"age_confirmed": True, "accepted_policy_version": version}, headers=headers)
    return client.post(path, headers=headers, json=JOB)


def create_published_output(client: TestClient, headers: Headers) -> dict[str, str]:
    params = create_output(client, headers)
    _json(client.patch(f"/v1/media/{params['media_id']}", headers=headers, json={"public": True}))
    return params


def create_file_token(client: TestClient, headers: Headers) -> dict[str, str]:
    """A signed link to A's upload, as the media route hands it out."""
    media_id = create_upload(client, headers)["media_id"]
    url = _json(client.get(f"/v1/media/{media_id}", headers=headers))["url"]
    return {"token": url.rsplit("/v1/files/", 1)[1]}


def create_ticket(client: TestClient, headers: Headers) -> dict[str, str]:
    _onboard(client, headers)  # a new ticket needs onboarding; its replies do not
    form = {"subject": "Upload stuck", "message": "It spins."}
    return {"ticket_id": _json(client.post("/v1/support/tickets", headers=headers, data=form))["id"]}


def create_notification(client: TestClient, headers: Headers) -> dict[str, str]:
    """An in-app notice: the operator publishing a policy version (not an HTTP action) notifies every account."""
    _account_id(client, headers)
    app: Any = client.app
    policy_update.publish(app.state.db, "# Privacy\n\nA clarified wording.", kind="privacy", material=False)
    [notice] = _json(client.get("/v1/me/notifications", headers=headers))["items"]
    return {"notification_id": notice["id"]}


def first_privacy_policy(_client: TestClient, _headers: Headers) -> dict[str, str]:
    return {"kind": "privacy", "version": "1"}


def send_webhook(client: TestClient, path: str, headers: Headers) -> Response:
    """A delivery signed with the configured secret, of an event type Atelier stores and ignores."""
    body = b'{"type": "organization.updated", "timestamp": "2026-01-01T00:00:00Z", "data": {}}'
    return client.post(path, content=body, headers=headers | polar.sign(body, polar.NEW_SECRET))


def send_local_sign_in(client: TestClient, path: str, headers: Headers) -> Response:
    """From this machine's loopback address, as the studio page on the local stack calls it."""
    with TestClient(client.app, client=("127.0.0.1", 50000), base_url="http://127.0.0.1:8000") as local:
        return local.post(path, headers=headers, json={"email": "ada@example.com"})


DEVICE = "device-0123456789"

MATRIX: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/v1/me"): PRIVATE,
    ("POST", "/v1/me/exports"): PRIVATE,
    ("GET", "/v1/me/exports"): PRIVATE,
    ("GET", "/v1/me/exports/{export_id}"): Access(create=_create_export),
    # jobs
    ("POST", "/v1/jobs"): Access(send=send_job),
    ("GET", "/v1/jobs"): PRIVATE,
    ("GET", "/v1/jobs/{job_id}"): Access(create=create_job),
    ("POST", "/v1/jobs/{job_id}/cancel"): Access(create=create_job),
    ("GET", "/v1/jobs/prompts"): PRIVATE,
    ("GET", "/v1/jobs/{job_id}/events"): Access(create=create_finished_job),
    # Privacy rights (issue 7).
    ("PATCH", "/v1/me"): Access(body={"display_name": "Ada"}),
    ("DELETE", "/v1/me"): PRIVATE,
    ("POST", "/v1/me/deletion/cancel"): PRIVATE,
    ("PUT", "/v1/me/restriction"): Access(body={"restricted": False}),
    ("GET", "/v1/me/preferences"): PRIVATE,
    ("PUT", "/v1/me/preferences"): Access(body={"analytics": False}),
    # Privacy center reads (issue 20).
    ("GET", "/v1/me/data"): PRIVATE,
    ("GET", "/v1/me/requests"): PRIVATE,
    ("GET", "/v1/me/policy-acceptances"): PRIVATE,
    # credits
    ("GET", "/v1/credits"): PRIVATE,
    ("GET", "/v1/credits/ledger"): PRIVATE,
    # billing (Polar played by a loopback server, see `matrix_client`)
    ("GET", "/v1/billing/products"): PUBLIC,
    ("POST", "/v1/billing/checkout"): as_member("POST", Access(body={"product_id": "prod-starter"})),
    ("POST", "/v1/billing/portal"): as_member("POST", PRIVATE),
    ("POST", "/webhooks/polar"): Access(public=True, send=send_webhook),
    # media
    ("POST", "/v1/uploads"): as_member("POST", Access(files=_image)),
    ("GET", "/v1/media"): PRIVATE,
    ("GET", "/v1/media/{media_id}"): Access(create=create_upload),
    ("GET", "/v1/media/{media_id}/download"): Access(create=create_upload),
    ("PATCH", "/v1/media/{media_id}"): Access(create=create_output, body={"public": True}),
    ("DELETE", "/v1/media/{media_id}"): Access(create=create_upload),
    ("GET", "/v1/gallery"): PUBLIC,
    ("GET", "/v1/gallery/{media_id}"): Access(public=True, create=create_published_output),
    ("GET", "/v1/gallery/{media_id}/image"): Access(public=True, create=create_published_output),
    ("GET", "/v1/gallery/{media_id}/thumbnail"): Access(public=True, create=create_published_output),
    ("POST", "/v1/gallery/{media_id}/report"): Access(
        public=True, create=create_published_output, body={"reason": "spam"}
    ),
    ("GET", "/v1/files/{token}"): Access(public=True, create=create_file_token),
    ("GET", "/v1/models"): PUBLIC,
    ("GET", "/v1/studio"): PUBLIC,
    # local stack only (absent in production): the studio's development sign-in
    ("POST", "/v1/dev/sign-in"): Access(public=True, send=send_local_sign_in),
    # policies and notices
    ("GET", "/v1/policies/current"): PUBLIC,
    ("GET", "/v1/policies/{kind}/{version}"): Access(public=True, create=first_privacy_policy),
    ("POST", "/v1/me/policy-acceptances"): Access(body={"version": 1, "kind": "privacy"}),
    ("GET", "/v1/me/notifications"): PRIVATE,
    ("POST", "/v1/me/notifications/{notification_id}/seen"): Access(create=create_notification),
    # consent (anonymous visitors choose too; a token, when sent, must be valid)
    ("POST", "/v1/consents"): Access(
        public=True, body={"device_id": DEVICE, "categories": {"analytics": False}, "notice_version": 1}
    ),
    ("GET", "/v1/consents/current"): Access(public=True, query={"device_id": DEVICE}),
    ("GET", "/v1/consents/cookies"): PUBLIC,
    ("POST", "/v1/analytics/events"): Access(body={"feature": "upload"}),
    ("POST", "/v1/me/onboarding"): Access(body={"age_confirmed": True, "accepted_policy_version": 1}),
    # support
    ("POST", "/v1/support/tickets"): as_member(
        "POST", Access(form={"subject": "Help", "message": "Please."}, files=_attachment)
    ),
    ("GET", "/v1/support/tickets"): PRIVATE,
    ("GET", "/v1/support/tickets/{ticket_id}"): Access(create=create_ticket),
    ("POST", "/v1/support/tickets/{ticket_id}/messages"): Access(create=create_ticket, form={"message": "More."}),
    # the contact form: anyone may write, signed in or not
    ("POST", "/v1/contact"): Access(
        public=True, body={"email": "visitor@example.com", "topic": "general", "message": "Hello there."}
    ),
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
    for name, given in params.items():
        path = path.replace("{" + name + "}", given)
    return path


def _any_params(path: str) -> dict[str, str]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
    return {name: str(uuid.uuid4()) for name in names}


def _call(client: TestClient, method: str, path: str, access: Access, headers: Headers) -> int:
    if access.send is not None:
        return access.send(client, path, headers).status_code
    files = access.files() if access.files else None
    return client.request(
        method, path, headers=headers, json=access.body, params=access.query, data=access.form, files=files
    ).status_code


# --- refusals: every private route must refuse each of these with the status given --------------------------------

Refusal = Callable[[TestClient], Headers]


def no_token(_: TestClient) -> Headers:
    return {}


def malformed_token(_: TestClient) -> Headers:
    return bearer("not.a.jwt")


def wrong_scheme(_: TestClient) -> Headers:
    return {"Authorization": f"Basic {hs256()}"}


def wrong_key(_: TestClient) -> Headers:
    return bearer(hs256(secret="another-projects-secret-of-32-bytes!!"))


def expired_token(_: TestClient) -> Headers:
    return bearer(jwt.encode(claims(exp=1_600_000_000, iat=1_599_999_000), HS256_SECRET, algorithm="HS256"))


def wrong_audience(_: TestClient) -> Headers:
    return bearer(hs256(aud="anon"))


def locked_account(client: TestClient) -> Headers:
    """A user who asked for erasure: the account is locked for the grace period."""
    headers = bearer(hs256(email=f"locked-{uuid.uuid4().hex[:8]}@example.com"))
    assert client.request("DELETE", "/v1/me", headers=headers).status_code == 202
    return headers


def erased_account(client: TestClient) -> Headers:
    """A token issued before its account was erased (grace 0, then the erase-accounts task)."""
    from datetime import UTC, datetime

    from shared.privacy.erasure import Processors, run_erasures
    from tests.support.loopback import Reply, loopback_server

    user_id = uuid.uuid4()
    headers = bearer(hs256(user_id=user_id, email=f"gone-{user_id.hex[:8]}@example.com"))
    app: Any = client.app
    with app.state.db.transaction() as conn:  # sign-in creates the account; erasure is requested with no grace
        conn.execute("insert into accounts (id, email) values (%s, 'gone@example.com')", (user_id,))
        from shared.privacy.erasure import request_erasure

        request_erasure(conn, user_id, now=datetime.now(UTC), grace_days=0)
    with loopback_server({("DELETE", f"/auth/v1/admin/users/{user_id}"): lambda _: Reply(200, {})}) as auth:
        from shared.accounts.auth_admin import SupabaseAuthAdmin

        settings = app.state.settings.model_copy(update={"supabase_url": auth.url, "supabase_secret_key": "k" * 40})
        processors = Processors(storage=app.state.storage, auth=SupabaseAuthAdmin(settings))
        assert run_erasures(app.state.db, processors, now=datetime.now(UTC)) == 1
    return headers


# What a locked account may still do: read the account, what we hold, its notices, requests and accepted policies,
# cancel the deletion and export its data
# (shared/privacy/erasure.py).
LOCKED_ALLOWED = {
    ("GET", "/v1/me"),
    ("POST", "/v1/me/deletion/cancel"),
    ("POST", "/v1/me/exports"),
    ("GET", "/v1/me/exports"),
    ("GET", "/v1/me/exports/{export_id}"),
    ("GET", "/v1/me/data"),
    ("GET", "/v1/me/requests"),
    ("GET", "/v1/me/policy-acceptances"),
    ("GET", "/v1/me/notifications"),
    ("POST", "/v1/me/notifications/{notification_id}/seen"),
}

REFUSALS: dict[str, tuple[Refusal, int]] = {
    "no token": (no_token, 401),
    "malformed token": (malformed_token, 401),
    "wrong scheme": (wrong_scheme, 401),
    "wrong key": (wrong_key, 401),
    "expired token": (expired_token, 401),
    "wrong audience": (wrong_audience, 401),
}


def check_refuses_bad_credentials(client: TestClient, method: str, path: str, access: Access) -> None:
    concrete = _fill(path, _any_params(path))
    for name, (refusal, expected) in REFUSALS.items():
        status = _call(client, method, concrete, access, refusal(client))
        assert status == expected, f"{method} {path} with {name} answered {status}, not {expected}"
    status = _call(client, method, concrete, access, erased_account(client))
    assert status == 401, f"{method} {path} with an erased account's token answered {status}, not 401"
    if (method, path) not in LOCKED_ALLOWED:
        status = _call(client, method, concrete, access, locked_account(client))
        assert status == 403, f"{method} {path} for a locked account answered {status}, not 403"


def check_owner_only(client: TestClient, method: str, path: str, access: Access) -> None:
    """B first (a leaking DELETE must not pass because A already removed the resource), then A."""
    assert access.create is not None
    user_a, user_b = bearer(hs256(email="a@example.com")), bearer(hs256(email="b@example.com"))
    concrete = _fill(path, access.create(client, user_a))
    other = _call(client, method, concrete, access, user_b)
    assert other == 404, f"{method} {path}: another user got {other} for the owner's resource, not 404"
    own = _call(client, method, concrete, access, user_a)
    assert 200 <= own < 300, f"{method} {path}: the owner got {own}"


@pytest.fixture
def matrix_client(tmp_path: Path, db: Database) -> Iterator[TestClient]:
    """The app as deployed with billing on: Polar played by a loopback server, webhooks verified."""
    with polar.polar_api() as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            supabase_jwt_secret=HS256_SECRET,
            **polar.billing_settings(tmp_path, server.url),
        )
        with TestClient(create_app(settings, db)) as client:
            yield client


def test_every_route_is_declared(app: FastAPI) -> None:
    assert declaration_problems(app, MATRIX) == []


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=str)
def test_route_access(matrix_client: TestClient, method: str, path: str) -> None:
    client = matrix_client
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
