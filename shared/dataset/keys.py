"""The dataset key and the keyed references made with it.

Item ids, owners and source images are stored only as HMAC-SHA256 under this key, so neither the dataset nor
the link table ties an item to an account without it. The key is `ATELIER_DATASET_KEY`, else derived from the
Supabase secret key (production always has one), else generated once in the local data dir.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from uuid import UUID

from config.settings import Settings, is_placeholder


class DatasetKeyMissing(RuntimeError):
    """Production needs ATELIER_DATASET_KEY or SUPABASE_SECRET_KEY to key the dataset."""


def dataset_key(settings: Settings) -> bytes:
    """The HMAC key for dataset references (see the module docstring for where it comes from)."""
    if not is_placeholder(settings.dataset_secret):
        material = settings.dataset_secret or ""
    elif not is_placeholder(settings.supabase_secret_key):
        material = settings.supabase_secret_key or ""
    elif settings.is_production:
        raise DatasetKeyMissing("production refuses to key the dataset without ATELIER_DATASET_KEY")
    else:
        path = settings.dataset_key_path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        material = path.read_text().strip()
    return hashlib.sha256(b"atelier-dataset:" + material.encode()).digest()


def _ref(key: bytes, label: str, *parts: object) -> str:
    message = ":".join((label, *(str(part) for part in parts))).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def subject_ref(key: bytes, user_id: UUID) -> str:
    return _ref(key, "subject", user_id)


def media_ref(key: bytes, media_id: UUID) -> str:
    return _ref(key, "media", media_id)


def item_id(key: bytes, version: str, media_id: UUID) -> str:
    """Different in every version, so two versions cannot be joined on it either."""
    return _ref(key, "item", version, media_id)
