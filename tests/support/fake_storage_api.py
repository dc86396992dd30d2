"""A loopback stand-in for the Supabase Storage API, with an in-memory object store.

It answers the requests storage3 makes (paths under /storage/v1/object/... and /storage/v1/bucket/...), in the
shapes the open-source Storage server answers them, and refuses what it refuses: an unknown bucket, an upload
over an existing object without `x-upsert: true`, more than 1000 names in one remove call.

Errors are the server's: HTTP 400 (500 for internal errors) whose body carries the error's own status as text,
`{"statusCode": "404", "code": "NoSuchKey", "error": "not_found", "message": "Object not found"}`. A missing
bucket is `NoSuchBucket` (statusCode "404" too), and so is any bucket a wrong key cannot see; listing a bucket
that does not exist (or that the key cannot see) answers an empty list, as the server's search function does.
A path the server does not have is Fastify's own HTTP 404.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.loopback import Recorded, Reply, serve

SECRET_KEY = "sb_secret_test-storage-key"
BUCKET = "atelier"
PREFIX = "/storage/v1/object/"
BUCKET_PREFIX = "/storage/v1/bucket/"


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    created_at: float


@dataclass
class FakeStorageApi:
    url: str = ""
    bucket: str = BUCKET
    secret_key: str = SECRET_KEY
    objects: dict[str, StoredObject] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # Called with the object key before an upload is stored (outside the lock): a test can hold an upload
    # in flight, as a slow network would, to act while the caller waits for Storage.
    before_upload: Callable[[str], None] | None = None

    def keys(self) -> list[str]:
        with self.lock:
            return sorted(self.objects)

    # -- signed URL tokens (an HMAC over path and expiry, as the real service signs a JWT) --
    def token(self, key: str, expires: int) -> str:
        payload = f"{key}:{expires}"
        mac = hmac.new(self.signing_key, payload.encode(), hashlib.sha256).hexdigest()
        return f"{expires}.{mac}"

    def token_ok(self, key: str, token: str) -> bool:
        expires = token.partition(".")[0]
        if not expires.isdigit():
            return False
        good = hmac.compare_digest(self.token(key, int(expires)), token)
        return good and time.time() < int(expires)


def _error(status: int, code: str, error: str, message: str) -> tuple[int, Any]:
    """The Storage server's error answer: HTTP 400 for every error below 500, its own status in the body."""
    return (500 if status >= 500 else 400), {
        "statusCode": str(status),
        "code": code,
        "error": error,
        "message": message,
    }


def _no_such_key() -> tuple[int, Any]:
    return _error(404, "NoSuchKey", "not_found", "Object not found")


def _no_such_bucket() -> tuple[int, Any]:
    return _error(404, "NoSuchBucket", "Bucket not found", "Bucket not found")


def _route_not_found(method: str, path: str) -> tuple[int, Any]:
    return 404, {"message": f"Route {method}:{path} not found", "error": "Not Found", "statusCode": 404}


def _multipart_file(headers: dict[str, str], body: bytes) -> tuple[bytes, str]:
    """The `file` part of a multipart/form-data body and its content type."""
    raw = f"Content-Type: {headers.get('content-type', '')}\r\n\r\n".encode() + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition", "")
        if 'name="file"' in disposition:
            payload = part.get_payload(decode=True)
            return (payload if isinstance(payload, bytes) else b""), part.get_content_type()
    raise ValueError("no file part")


def _handle(api: FakeStorageApi, rec: Recorded) -> tuple[int, Any]:  # noqa: PLR0911, PLR0912 - one route table
    parts = urlsplit(rec.path)
    path = unquote(parts.path)
    headers = {name.lower(): value for name, value in rec.headers.items()}
    signed_get = rec.method == "GET" and path.startswith(f"{PREFIX}sign/")  # the token alone authorises it
    # A wrong key is a caller whose row-level security hides the bucket: it sees no bucket and lists nothing.
    sees_bucket = signed_get or (
        headers.get("apikey") == api.secret_key and headers.get("authorization") == f"Bearer {api.secret_key}"
    )
    if rec.method == "GET" and path.startswith(BUCKET_PREFIX):
        if not sees_bucket or path[len(BUCKET_PREFIX) :] != api.bucket:
            return _no_such_bucket()
        return 200, {
            "id": api.bucket,
            "name": api.bucket,
            "owner": "",
            "public": False,
            "type": "STANDARD",
            "file_size_limit": None,
            "allowed_mime_types": None,
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
        }
    if not path.startswith(PREFIX):
        return _route_not_found(rec.method, path)
    rest = path[len(PREFIX) :]
    action, _, tail = rest.partition("/")

    def split_bucket(text: str) -> tuple[str, str] | None:
        bucket, _, key = text.partition("/")
        return (bucket, key) if bucket == api.bucket and sees_bucket else None

    with api.lock:
        if rec.method == "POST" and action == "list":
            if tail != api.bucket or not sees_bucket:
                return 200, []  # the server's search finds no rows for a bucket it cannot see
            body = json.loads(rec.body)
            prefix = body.get("prefix", "")
            folder = f"{prefix.rstrip('/')}/" if prefix else ""
            entries: dict[str, dict[str, Any]] = {}
            for key, obj in api.objects.items():
                if not key.startswith(folder):
                    continue
                name, slash, _ = key[len(folder) :].partition("/")
                if slash:
                    entries.setdefault(name, {"name": name, "id": None, "metadata": None})
                else:
                    entries[name] = {
                        "name": name,
                        "id": hashlib.md5(key.encode()).hexdigest(),  # noqa: S324 - an id, not security
                        "metadata": {"size": len(obj.data), "mimetype": obj.content_type},
                    }
            ordered = [entries[name] for name in sorted(entries)]
            offset, limit = int(body.get("offset", 0)), int(body.get("limit", 100))
            return 200, ordered[offset : offset + limit]
        if rec.method == "POST" and action == "sign":
            target = split_bucket(tail)
            if target is None:
                return _no_such_bucket()
            body = json.loads(rec.body)
            expires = int(time.time()) + int(body["expiresIn"])
            if target[1]:  # one object
                if target[1] not in api.objects:
                    return _no_such_key()
                url = f"/object/sign/{api.bucket}/{target[1]}?token={api.token(target[1], expires)}"
                return 200, {"signedURL": url}
            items = []
            for key in body["paths"]:
                if key in api.objects:
                    url = f"/object/sign/{api.bucket}/{key}?token={api.token(key, expires)}"
                    items.append({"error": None, "path": key, "signedURL": url})
                else:
                    items.append({"error": "Either the object does not exist or you do not have access to it",
                                  "path": key, "signedURL": None})  # fmt: skip
            return 200, items
        if rec.method == "GET" and action == "sign":
            target = split_bucket(tail)
            token = parse_qs(parts.query).get("token", [""])[0]
            if target is None or not api.token_ok(target[1], token):
                return _error(400, "InvalidJWT", "InvalidJWT", "jwt expired or invalid signature")
            signed = api.objects.get(target[1])
            if signed is None:
                return _no_such_key()
            return 200, signed
        if rec.method == "GET" and action == "info":
            target = split_bucket(tail)
            if target is None:
                return _no_such_bucket()
            if target[1] not in api.objects:
                return _no_such_key()
            obj = api.objects[target[1]]
            return 200, {"name": target[1], "size": len(obj.data), "content_type": obj.content_type}
        if rec.method == "DELETE" and rest == api.bucket:
            if not sees_bucket:
                return 200, []  # deletes what the key may see: nothing
            names = json.loads(rec.body)["prefixes"]
            if len(names) > 1000:
                return _error(400, "InvalidRequest", "Bad Request", "body/prefixes must NOT have more than 1000 items")
            removed = [{"name": name} for name in names if api.objects.pop(name, None) is not None]
            return 200, removed
        target = split_bucket(rest)
        if target is None:
            return _no_such_bucket()
        key = target[1]
        if rec.method == "POST":
            if key in api.objects and headers.get("x-upsert") != "true":
                return _error(409, "KeyAlreadyExists", "Duplicate", "The resource already exists")
            data, content_type = _multipart_file(headers, rec.body)
            api.objects[key] = StoredObject(data, content_type, time.time())
            return 200, {"Key": f"{api.bucket}/{key}", "Id": hashlib.md5(key.encode()).hexdigest()}  # noqa: S324
        if rec.method == "GET":
            found = api.objects.get(key)
            if found is None:
                return _no_such_key()
            return 200, found
    return _route_not_found(rec.method, path)


def _upload_key(api: FakeStorageApi, rec: Recorded) -> str | None:
    """The object key of an upload request (`POST /storage/v1/object/{bucket}/{key}`), else None."""
    path = unquote(urlsplit(rec.path).path)
    if rec.method != "POST" or not path.startswith(f"{PREFIX}{api.bucket}/"):
        return None
    return path[len(f"{PREFIX}{api.bucket}/") :]


@contextmanager
def fake_storage_api() -> Iterator[FakeStorageApi]:
    api = FakeStorageApi()

    def handle(rec: Recorded) -> Reply:
        with api.lock:
            api.requests.append(rec)
        upload_key = _upload_key(api, rec)
        if upload_key is not None and api.before_upload is not None:
            api.before_upload(upload_key)
        status, body = _handle(api, rec)
        if isinstance(body, StoredObject):
            headers = {"Content-Type": body.content_type}
            download = parse_qs(urlsplit(rec.path).query).get("download")
            if download:  # as Supabase Storage serves a URL signed with `download`
                headers["Content-Disposition"] = f'attachment; filename="{download[0]}"'
            return Reply(status, body.data, headers)
        return Reply(status, body)

    with serve(handle, keep_alive=True) as url:
        api.url = url
        yield api
