"""The web app's session calls Supabase Auth from the page's origin, so Supabase would see one address for everyone:
with the secret key each call names the person's address in `Sb-Forwarded-For`, by the one client-address rule.

Supabase Auth is the loopback fake of tests/support/fake_gotrue.py, which counts each /verify and /token against the
address GoTrue would (the forwarded one only with a secret key); the web app is the real one (functions/static_site).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config.settings import Settings
from functions.static_site import build_site
from tests.support.fake_gotrue import PEER, PUBLISHABLE_KEY, SECRET_KEY, FakeAuth
from tests.support.loopback import Loopback, loopback_server
from tests.support.tokens import HS256_SECRET

EMAIL = "lin@example.com"


@pytest.fixture
def gotrue() -> Iterator[tuple[FakeAuth, Loopback]]:
    fake = FakeAuth()
    with loopback_server(fake.routes()) as auth:
        fake.url = auth.url
        yield fake, auth


def _page(tmp_path: Path, auth: Loopback, peer: str, *, secret: bool = True, proxies: str = "") -> TestClient:
    settings = Settings(
        data_dir=tmp_path / "data",
        supabase_url=auth.url,
        supabase_jwt_secret=HS256_SECRET,
        supabase_publishable_key=PUBLISHABLE_KEY,
        supabase_secret_key=SECRET_KEY if secret else None,
        trusted_proxies=[p for p in proxies.split(",") if p],
    )
    return TestClient(build_site(settings), base_url="http://studio.test", client=(peer, 50000))


def _sign_in(page: TestClient, fake: FakeAuth, headers: dict[str, str] | None = None) -> None:
    fake.codes[EMAIL] = "246810"  # what the page's own /otp call had Supabase mail
    started = page.post("/auth/session", json={"type": "email", "email": EMAIL, "token": "246810"}, headers=headers)
    assert started.status_code == 200, started.text


def test_each_call_counts_against_the_persons_address_not_the_web_functions(
    tmp_path: Path, gotrue: tuple[FakeAuth, Loopback]
) -> None:
    fake, auth = gotrue
    page = _page(tmp_path, auth, "203.0.113.7")
    _sign_in(page, fake)
    assert page.post("/auth/refresh", json={}).status_code == 200
    assert fake.limited_as == ["203.0.113.7", "203.0.113.7"]  # the code check, then the refresh
    sent = [r for r in auth.requests if r.method == "POST"]
    assert [r.headers.get("apikey") for r in sent] == [SECRET_KEY, SECRET_KEY]
    assert page.post("/auth/sign-out", json={}, headers={"Authorization": "Bearer x"}).status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_and_never_a_spoofed_one(
    tmp_path: Path, gotrue: tuple[FakeAuth, Loopback]
) -> None:
    fake, auth = gotrue
    behind = _page(tmp_path, auth, "10.0.0.5", proxies="10.0.0.0/8")
    _sign_in(behind, fake, {"X-Forwarded-For": "198.51.100.23"})
    direct = _page(tmp_path, auth, "203.0.113.9", proxies="10.0.0.0/8")  # not a proxy: its header is not believed
    _sign_in(direct, fake, {"X-Forwarded-For": "198.51.100.99"})
    assert fake.limited_as == ["198.51.100.23", "203.0.113.9"]


def test_without_the_secret_key_the_publishable_key_and_no_forwarded_address(
    tmp_path: Path, gotrue: tuple[FakeAuth, Loopback]
) -> None:
    fake, auth = gotrue
    page = _page(tmp_path, auth, "203.0.113.7", secret=False)
    _sign_in(page, fake)
    [sent] = [r for r in auth.requests if r.method == "POST"]
    assert sent.headers.get("apikey") == PUBLISHABLE_KEY
    assert "sb-forwarded-for" not in {key.lower() for key in sent.headers}
    assert fake.limited_as == [PEER]  # Supabase's limits are this function's, shared by everyone
