"""GET /v1/me with real tokens: HS256 project secret, ES256/RS256 via a loopback JWKS, and dev tokens."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from shared.auth import TokenVerifier, issue_dev_token
from shared.kit.db import Database
from shared.kit.errors import Unauthorized
from tests.support.loopback import Loopback, Reply, loopback_server
from tests.support.production import MAIL_SETTINGS
from tests.support.tokens import HS256_SECRET, bearer, claims, hs256


def test_valid_hs256_token_creates_the_account(client: TestClient, db: Database) -> None:
    user_id = uuid.uuid4()
    response = client.get("/v1/me", headers=bearer(hs256(user_id=user_id, email="ada@example.com")))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(user_id)
    assert body["email"] == "ada@example.com"
    assert body["full_name"] == "Ada Lovelace"
    assert body["avatar_url"] == "https://avatars.example/ada.png"
    with db.transaction() as conn:
        row = conn.execute("select email from accounts where id = %s", (user_id,)).fetchone()
    assert row == {"email": "ada@example.com"}


def test_second_call_reuses_the_account(client: TestClient, db: Database) -> None:
    user_id = uuid.uuid4()
    first = client.get("/v1/me", headers=bearer(hs256(user_id=user_id))).json()
    second = client.get("/v1/me", headers=bearer(hs256(user_id=user_id))).json()
    assert first["created_at"] == second["created_at"]
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from accounts").fetchone() == {"n": 1}


def _none_alg_token() -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims())}."


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing_token"),
        (bearer("not-a-jwt"), "invalid_token"),
        (bearer(hs256(exp=int(time.time()) - 3600)), "token_expired"),
        (bearer(hs256(aud="anon")), "invalid_token"),
        (bearer(hs256(secret="another-secret-of-enough-length-123456")), "invalid_token"),
        (bearer(_none_alg_token()), "invalid_token"),
        (bearer(hs256(sub="not-a-uuid")), "invalid_token"),
        (bearer(hs256(exp=None)), "invalid_token"),
        (bearer(hs256(is_anonymous=True)), "anonymous_session"),
    ],
    ids=["missing", "basic", "garbage", "expired", "wrong-aud", "wrong-sig", "alg-none", "bad-sub", "no-exp", "anon"],
)
def test_bad_tokens_get_401_json(client: TestClient, db: Database, headers: dict[str, str], code: str) -> None:
    response = client.get("/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.headers["www-authenticate"].startswith("Bearer")
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from accounts").fetchone() == {"n": 0}


def test_hs256_refused_when_no_secret_configured(tmp_path: Path, db: Database) -> None:
    app = create_app(Settings(data_dir=tmp_path), db)
    with TestClient(app) as client:
        assert client.get("/v1/me", headers=bearer(hs256())).status_code == 401


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the issue's literal one-byte secret
def test_settings_read_the_contract_environment_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: Database
) -> None:
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "s")
    monkeypatch.setenv("ATELIER_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.data_dir == tmp_path
    with TestClient(create_app(settings, db)) as client:
        ok = client.get("/v1/me", headers=bearer(hs256(secret="s")))
        assert ok.status_code == 200, ok.text


@pytest.fixture
def jwks_server() -> Iterator[tuple[Loopback, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]]:
    es_key = ec.generate_private_key(ec.SECP256R1())
    rs_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = []
    for kid, key, alg in (("es-1", es_key, "ES256"), ("rs-1", rs_key, "RS256")):
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
    routes = {("GET", "/auth/v1/.well-known/jwks.json"): lambda _: Reply(200, {"keys": keys})}
    with loopback_server(routes) as server:
        yield server, es_key, rs_key


def test_es256_and_rs256_tokens_verified_against_jwks(
    jwks_server: tuple[Loopback, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey], tmp_path: Path, db: Database
) -> None:
    server, es_key, rs_key = jwks_server
    settings = Settings(data_dir=tmp_path, supabase_url=server.url + "/")
    issuer = f"{server.url}/auth/v1"
    with TestClient(create_app(settings, db)) as client:
        es = jwt.encode(claims(iss=issuer), es_key, algorithm="ES256", headers={"kid": "es-1"})
        assert client.get("/v1/me", headers=bearer(es)).status_code == 200
        rs = jwt.encode(claims(iss=issuer), rs_key, algorithm="RS256", headers={"kid": "rs-1"})
        assert client.get("/v1/me", headers=bearer(rs)).status_code == 200

        other_issuer = jwt.encode(
            claims(iss="https://evil.example/auth/v1"), es_key, algorithm="ES256", headers={"kid": "es-1"}
        )
        refused = client.get("/v1/me", headers=bearer(other_issuer))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_token"

        unknown_kid = jwt.encode(claims(iss=issuer), es_key, algorithm="ES256", headers={"kid": "nope"})
        assert client.get("/v1/me", headers=bearer(unknown_kid)).status_code == 401

        forged = jwt.encode(
            claims(iss=issuer), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "es-1"}
        )
        assert client.get("/v1/me", headers=bearer(forged)).status_code == 401
        # HS256 is not accepted when only JWKS is configured (no algorithm confusion).
        assert client.get("/v1/me", headers=bearer(hs256(iss=issuer))).status_code == 401
    # Keys are cached: the JWKS was fetched once for all the tokens above.
    assert len([r for r in server.requests if r.path.endswith("jwks.json")]) == 1


def test_hs256_with_supabase_url_checks_issuer(tmp_path: Path, db: Database) -> None:
    settings = Settings(data_dir=tmp_path, supabase_url="https://proj.supabase.co", supabase_jwt_secret=HS256_SECRET)
    with TestClient(create_app(settings, db)) as client:
        good = hs256(iss="https://proj.supabase.co/auth/v1")
        assert client.get("/v1/me", headers=bearer(good)).status_code == 200
        assert client.get("/v1/me", headers=bearer(hs256(iss="https://other.supabase.co/auth/v1"))).status_code == 401


def test_dev_tokens_work_locally_only(tmp_path: Path, db: Database) -> None:
    local = Settings(data_dir=tmp_path)
    token = issue_dev_token(local, "dev@example.com")
    with TestClient(create_app(local, db)) as client:
        response = client.get("/v1/me", headers=bearer(token))
        assert response.status_code == 200
        assert response.json()["email"] == "dev@example.com"

    production = Settings(
        data_dir=tmp_path,
        environment="production",
        database_url="postgresql://db.example/postgres",
        supabase_url="https://proj.supabase.co",
        supabase_secret_key="sb_secret_real_value",
        supabase_jwt_secret=HS256_SECRET,
        **MAIL_SETTINGS,
    )
    assert production.dev_key_path.exists()  # the key is there, and still refused
    with TestClient(create_app(production, db)) as client:
        assert client.get("/v1/me", headers=bearer(token)).status_code == 401


def test_an_accepted_token_is_remembered_until_its_exp_and_never_beyond(tmp_path: Path) -> None:
    verifier = TokenVerifier(Settings(data_dir=tmp_path, supabase_jwt_secret=HS256_SECRET))
    now = int(time.time())
    token = hs256(exp=now + 600)
    first = verifier.verify(token)
    assert verifier.remembered_until(token) == now + 600
    assert verifier.verify(token) is first  # answered from memory: the same principal

    # Past its exp but within the leeway: accepted, as before, but verified anew every time.
    late = hs256(exp=now - 5)
    verifier.verify(late)
    assert verifier.remembered_until(late) is None

    # A refused token is never remembered: refused the same way every time.
    forged = hs256(secret="another-secret-of-at-least-32-bytes!!", exp=now + 600)
    expired = hs256(exp=now - 3600)
    for _ in range(2):
        with pytest.raises(Unauthorized) as refused:
            verifier.verify(forged)
        assert refused.value.code == "invalid_token"
        with pytest.raises(Unauthorized) as too_old:
            verifier.verify(expired)
        assert too_old.value.code == "token_expired"
    assert verifier.remembered_until(forged) is None
    assert verifier.remembered_until(expired) is None


def test_a_jwks_token_is_remembered_no_longer_than_its_key(
    jwks_server: tuple[Loopback, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey], tmp_path: Path
) -> None:
    server, es_key, _ = jwks_server
    verifier = TokenVerifier(Settings(data_dir=tmp_path, supabase_url=server.url + "/", jwks_cache_seconds=60))
    before = time.time()
    token = jwt.encode(
        claims(iss=f"{server.url}/auth/v1", exp=int(before) + 3600), es_key, algorithm="ES256", headers={"kid": "es-1"}
    )
    verifier.verify(token)
    until = verifier.remembered_until(token)
    assert until is not None
    assert before + 60 <= until <= time.time() + 60  # the JWKS cache's lifespan, not the token's hour
