"""Supabase access tokens → Principal.

Tokens are verified locally: asymmetric keys (ES256/RS256) from the project's JWKS, the legacy HS256
project secret when configured, and — only outside production — tokens signed by the local stack's
dev key (`python deploy.py token EMAIL`). Anything else is refused with 401 and a stable code.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt

from config.settings import Settings
from config.values import value
from shared.kit.errors import ServiceUnavailable, Unauthorized
from shared.kit.text import strip_control_characters

AUDIENCE = "authenticated"
DEV_KID = "atelier-dev"
DEV_ISSUER = "atelier-local"
_DEV_NAMESPACE = uuid.UUID("6f1c1d2e-5b0a-4d8e-9a55-3c2f7e0b9d41")
_LEEWAY_SECONDS = 30
_LATEST_IAT = 32_503_680_000  # 3000-01-01: later issue times are refused as out of range
# The longest an access token may claim to stay valid: Supabase Auth's own limit on its JWT expiry (one week), which
# local development tokens keep too. A token that claims to live longer is refused (401 `invalid_token`), however
# it was signed: a stolen or mis-issued signing key must not mint tokens that outlive its rotation by years.
MAX_TOKEN_SECONDS = 7 * 24 * 3600
_JWKS_ALGORITHMS = ("ES256", "RS256")  # verified with a key from the project's JWKS
VERIFIED_TOKENS = 4096  # accepted tokens a verifier remembers (`TokenVerifier.__init__`)


@value
class Principal:
    """Who a verified token speaks for."""

    user_id: uuid.UUID
    email: str | None
    session_id: str | None = None
    aal: str | None = None
    name: str | None = None
    full_name: str | None = None
    avatar_url: str | None = None
    issued_at: datetime | None = None


class TokenVerifier:
    """Verifies bearer tokens against the keys the settings name. Safe to share between threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._dev_key_cache: str | None = None
        # Verified tokens: the whole token -> (its principal, until when the answer holds). Verifying costs ~0.3 ms of
        # Python per request (PyJWT checks the token's base64 a character at a time, twice), and a client sends the
        # same token with every request until it refreshes it. An entry holds until the token's `exp` and never
        # beyond; for a token signed with a JWKS key, no longer than the JWKS cache would have kept that key either
        # (`jwks_cache_seconds`: a key withdrawn from the JWKS stops being accepted as late as without this cache).
        # Only accepted tokens are kept: a wrong, expired or refused token is verified, and refused, every time.
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._verified_lock = threading.Lock()

    @cached_property
    def _jwks(self) -> jwt.PyJWKClient | None:
        url = self.settings.supabase_jwks_url
        if url is None:
            return None
        return jwt.PyJWKClient(
            url,
            cache_keys=True,
            lifespan=max(self.settings.jwks_cache_seconds, 1),
            timeout=self.settings.http_timeout_seconds,  # seconds as given (int() would turn 0.5 into "no wait")
        )

    @property
    def _dev_key(self) -> str | None:
        """Read lazily (the key may be created while the stack runs); never in production."""
        if self.settings.is_production:
            return None
        if self._dev_key_cache is None and self.settings.dev_key_path.exists():
            self._dev_key_cache = self.settings.dev_key_path.read_text().strip()
        return self._dev_key_cache

    def verify(self, token: str | None) -> Principal:
        if not token:
            raise Unauthorized("An access token is required.", code="missing_token")
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        principal, until = self._verify(token)
        if time.time() < until:
            self._remember(token, principal, until)
        return principal

    def remembered_until(self, token: str) -> float | None:
        """Until when (epoch seconds) this verifier answers `token` without verifying it again; None: it does not."""
        known = self._verified.get(token)
        return known[1] if known is not None else None

    def _remember(self, token: str, principal: Principal, until: float) -> None:
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_TOKENS:
                now = time.time()
                for stored in [t for t, (_, held) in self._verified.items() if held <= now]:
                    del self._verified[stored]
                while len(self._verified) >= VERIFIED_TOKENS:  # the oldest entries first
                    del self._verified[next(iter(self._verified))]
            self._verified[token] = (principal, until)

    def _verify(self, token: str) -> tuple[Principal, float]:
        """The token's principal, and until when that answer holds (see `__init__`)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("The access token is malformed.") from exc
        key, algorithm, issuer = self._key_for(token, header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=AUDIENCE,
                issuer=issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The access token has expired.", code="token_expired") from exc
        except jwt.InvalidSignatureError as exc:
            if issuer == DEV_ISSUER:
                raise Unauthorized(
                    "This local development token was signed with another data folder's key; mint one for this "
                    "stack with `python deploy.py token EMAIL --data-dir DIR` (DIR: the stack's --data-dir)."
                ) from exc
            raise Unauthorized("The access token is not valid.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("The access token is not valid.") from exc
        except (OverflowError, ValueError, TypeError) as exc:  # e.g. an `exp` of 1e400 (Infinity) or -1e18
            raise Unauthorized("The access token's timestamps are out of range.") from exc
        verified_at = datetime.now(UTC).timestamp()
        if claims["exp"] > verified_at + MAX_TOKEN_SECONDS + _LEEWAY_SECONDS:
            raise Unauthorized("The access token claims a longer life than any token this service accepts.")
        until = float(claims["exp"])
        if algorithm in _JWKS_ALGORITHMS and header.get("kid") != DEV_KID:
            until = min(until, verified_at + max(self.settings.jwks_cache_seconds, 1))
        return _principal(claims), until

    def _key_for(self, token: str, header: dict[str, Any]) -> tuple[Any, str, str | None]:
        algorithm = header.get("alg")
        if header.get("kid") == DEV_KID:
            if algorithm != "HS256" or self._dev_key is None:
                raise Unauthorized("Local development tokens are not accepted here.")
            return self._dev_key, "HS256", DEV_ISSUER
        if algorithm == "HS256":
            if not self.settings.supabase_jwt_secret:
                raise Unauthorized("HS256 tokens are not accepted by this deployment.")
            return self.settings.supabase_jwt_secret, "HS256", self.settings.supabase_issuer
        if algorithm in _JWKS_ALGORITHMS:
            if self._jwks is None:
                raise Unauthorized("Asymmetric tokens are not accepted by this deployment.")
            try:
                signing_key = self._jwks.get_signing_key_from_jwt(token)
            except jwt.PyJWKClientConnectionError as exc:
                raise ServiceUnavailable(
                    "The identity provider's keys are unreachable.", code="auth_unavailable"
                ) from exc
            except jwt.PyJWTError as exc:
                raise Unauthorized("The access token's signing key is unknown.") from exc
            return signing_key.key, algorithm, self.settings.supabase_issuer
        raise Unauthorized("The access token's algorithm is not accepted.")


def _principal(claims: dict[str, Any]) -> Principal:
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("The access token's subject is not a user id.") from exc
    if claims.get("is_anonymous") is True:
        raise Unauthorized("Anonymous sessions cannot use Atelier; sign in with an account.", code="anonymous_session")
    raw_metadata = claims.get("user_metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    return Principal(
        user_id=user_id,
        email=_text(claims.get("email")),
        session_id=_text(claims.get("session_id")),
        aal=_text(claims.get("aal")),
        name=_text(metadata.get("name") or metadata.get("display_name") or metadata.get("user_name")),
        full_name=_text(metadata.get("full_name")),
        avatar_url=_text(metadata.get("avatar_url") or metadata.get("picture")),
        issued_at=_issued_at(claims.get("iat")),
    )


def _issued_at(value: object) -> datetime | None:
    """`iat` as a time; a signed but absurd one (-1e18, NaN, year 30000) is a 401, never an overflow (500)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < _LATEST_IAT:
        raise Unauthorized("The access token's issue time is out of range.")
    return datetime.fromtimestamp(value, UTC)


def _text(value: object, limit: int = 320) -> str | None:
    """A claim as text fit to store: control characters (NUL, which Postgres text refuses) are dropped."""
    if not isinstance(value, str):
        return None
    cleaned = strip_control_characters(value)[:limit]
    return cleaned or None


def dev_user_id(email: str, generation: int = 0) -> uuid.UUID:
    """The same email always maps to the same local account. Like Supabase Auth, where signing up again after
    the auth user was deleted gives a new id, a later `generation` names the account made after an erasure."""
    address = email.strip().lower()
    return uuid.uuid5(_DEV_NAMESPACE, address if generation == 0 else f"{address}#{generation}")


def ensure_dev_key(path: Path) -> str:
    """Create the local signing key once; it lives only in the data directory."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def issue_dev_token(settings: Settings, email: str, *, hours: int = 24, generation: int = 0) -> str:
    """A token only the local stack accepts, for trying the API with curl."""
    if settings.is_production:
        raise RuntimeError("development tokens are never issued for production")
    if not 0 < hours * 3600 <= MAX_TOKEN_SECONDS:
        raise ValueError(f"a development token lives at most {MAX_TOKEN_SECONDS // 3600} hours")
    key = ensure_dev_key(settings.dev_key_path)
    now = datetime.now(UTC)
    claims = {
        "sub": str(dev_user_id(email, generation)),
        "email": email.strip(),
        "aud": AUDIENCE,
        "iss": DEV_ISSUER,
        "role": "authenticated",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=hours)).timestamp()),
    }
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": DEV_KID})
