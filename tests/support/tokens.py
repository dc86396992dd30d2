"""Real JWTs for tests, signed the way Supabase Auth signs them."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

HS256_SECRET = "test-project-jwt-secret-at-least-32-bytes!"


def claims(user_id: uuid.UUID | None = None, email: str = "ada@example.com", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": str(user_id or uuid.uuid4()),
        "email": email,
        "aud": "authenticated",
        "role": "authenticated",
        "iat": now,
        "exp": now + 3600,
        "session_id": str(uuid.uuid4()),
        "aal": "aal1",
        "is_anonymous": False,
        "user_metadata": {"full_name": "Ada Lovelace", "avatar_url": "https://avatars.example/ada.png"},
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def hs256(secret: str = HS256_SECRET, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
