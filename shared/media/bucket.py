"""The Storage bucket is checked before deploying, not assumed: created private when missing, never used when public.

Every object Atelier stores is private (signed URLs only); a public bucket would publish every upload and output
to anyone who guesses a path, so deploy refuses it rather than fixing it silently.
"""

from __future__ import annotations

from typing import Literal

import httpx
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError

from shared.kit import http


class BucketRefused(RuntimeError):
    """The bucket is public, or Storage answered something deploy cannot act on."""


def _missing(exc: StorageApiError) -> bool:
    """Supabase Storage answers a missing bucket `{"statusCode": "404", "error": "Bucket not found"}` (HTTP 400 or
    404; newer servers add `"code": "NoSuchBucket"`). A wrong key can read as missing too: creating then fails."""
    return str(exc.status) == "404" and "bucket" in f"{exc.code} {exc.message}".lower()


def ensure_private_bucket(
    url: str, secret_key: str, bucket: str, *, timeout: float = 10.0, http_client: httpx.Client | None = None
) -> Literal["exists", "created"]:
    """Make sure `bucket` exists and is private: create it (private) when missing; raise BucketRefused when public."""
    headers = {"apiKey": secret_key, "Authorization": f"Bearer {secret_key}"}
    client = SyncStorageClient(
        f"{url.rstrip('/')}/storage/v1/", headers, http_client=http_client or http.client_with(timeout)
    )
    try:
        try:
            found = client.get_bucket(bucket)
        except StorageApiError as exc:
            if not _missing(exc):
                raise BucketRefused(
                    f"Storage refused to describe bucket {bucket!r} (status {exc.status}, {exc.code}); "
                    "check SUPABASE_URL and SUPABASE_SECRET_KEY"
                ) from exc
            try:
                client.create_bucket(bucket, options={"public": False})
            except StorageApiError as create_exc:
                raise BucketRefused(
                    f"bucket {bucket!r} is missing and could not be created (status {create_exc.status}, "
                    f"{create_exc.code}); check SUPABASE_SECRET_KEY (the secret key, not the publishable one)"
                ) from create_exc
            return "created"
    except httpx.HTTPError as exc:
        raise BucketRefused(f"Storage at {url} is unreachable ({type(exc).__name__})") from exc
    if found.public:
        raise BucketRefused(
            f"bucket {bucket!r} is public: anyone could read every upload and output by its path. Make it private "
            "(Supabase dashboard → Storage → bucket settings) or set ATELIER_STORAGE_BUCKET to a private one"
        )
    return "exists"
