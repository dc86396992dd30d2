"""Private object storage behind one small interface: a local folder (embedded default) or Supabase Storage.

Every object is private. Clients only ever get short-lived signed URLs; no public URL and no provider URL is
stored anywhere. Keys are namespaced by user id (`users/{user_id}/uploads/...`, `users/{user_id}/outputs/...`).

Storage calls are remote calls: callers make them outside database transactions (write the object first,
then the row; delete the object if the row fails).
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from shared.kit import http
from shared.kit.errors import Forbidden, NotFound, ServiceUnavailable

if TYPE_CHECKING:
    import httpx
    from storage3.exceptions import StorageApiError

# Object keys: relative, slash-separated, no dot segments, no empty segments, a conservative alphabet.
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
CHUNK_SIZE = 64 * 1024
REMOVE_BATCH = 1000  # Supabase Storage removes at most 1000 exact names per call
LIST_PAGE = 1000
FILES_PATH = "/v1/files/"  # where the API serves local signed URLs


class ObjectMissing(NotFound):
    """The stored object does not exist."""


class StorageUnavailable(ServiceUnavailable):
    """The object store did not answer as expected; retry later."""

    code = "storage_unavailable"


class SignedUrlInvalid(Forbidden):
    """This file link is not valid."""

    code = "signed_url_invalid"


class SignedUrlExpired(Forbidden):
    """This file link has expired; ask the API for a fresh one."""

    code = "signed_url_expired"


def check_key(key: str) -> str:
    """Refuse keys that could escape a folder or confuse a provider (absolute, `..`, odd characters)."""
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError("invalid object key")
    return key


_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_file_name(name: str) -> str:
    """A download file name is plain ASCII (letters, digits, '.', '_', '-'), so it needs no quoting anywhere."""
    if not _FILE_NAME.match(name):
        raise ValueError("invalid download file name")
    return name


def user_prefix(user_id: uuid.UUID) -> str:
    return f"users/{user_id}/"


def uploads_prefix(user_id: uuid.UUID) -> str:
    return f"users/{user_id}/uploads/"


def outputs_prefix(user_id: uuid.UUID) -> str:
    return f"users/{user_id}/outputs/"


def thumbnails_prefix(user_id: uuid.UUID) -> str:
    return f"users/{user_id}/thumbnails/"


class Storage(ABC):
    """The storage interface every backend implements. Deleting a missing object is not an error."""

    def __init__(self, *, signed_url_seconds: int = 3600) -> None:
        self.signed_url_seconds = signed_url_seconds

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Create or overwrite one object."""

    @abstractmethod
    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Create or overwrite one object from a local file, streamed: never read into memory whole."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The whole object; `ObjectMissing` when it does not exist."""

    def open(self, key: str) -> Iterator[bytes]:
        """The object as a stream of chunks; `ObjectMissing` (raised before the first chunk) when absent."""
        data = self.get(key)
        return iter([data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""])

    @abstractmethod
    def delete(self, keys: Sequence[str]) -> None:
        """Delete many objects by exact key; missing ones are ignored."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Every key under a folder prefix (ending in "/"), recursively, sorted."""

    @abstractmethod
    def signed_url(self, key: str, seconds: int | None = None, *, download: str | None = None) -> str:
        """A URL that serves this one private object until it expires (default: the configured lifetime).
        `download`: served as an attachment under this file name (`Content-Disposition`), which a browser honours
        where it ignores `<a download>` on another origin."""

    def signed_urls(self, keys: Sequence[str], seconds: int | None = None) -> dict[str, str]:
        """Signed URLs for many keys at once (backends may batch); keys whose object is missing may be left out."""
        return {key: self.signed_url(key, seconds) for key in keys}

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a folder prefix; returns how many there were."""
        keys = self.list(prefix)
        self.delete(keys)
        return len(keys)

    def folders(self, prefix: str) -> builtins.list[str]:
        """The names of the folders directly under a folder prefix (e.g. each user id under `users/`), sorted."""
        start = len(_folder(prefix))
        return sorted({key[start:].split("/", 1)[0] for key in self.list(prefix) if "/" in key[start:]})


def _folder(prefix: str) -> str:
    if prefix and not prefix.endswith("/"):
        raise ValueError("a listing prefix is a folder and ends with '/'")
    if prefix:
        check_key(prefix.rstrip("/"))
    return prefix


# ---------------------------------------------------------------------------------------------------------------
# Local folder


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signing_key(path: Path) -> bytes:
    """The local URL-signing key, created once in the data directory (never in the repository)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic create-if-absent, so two processes agree on one key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return bytes.fromhex(path.read_text().strip())


class LocalStorage(Storage):
    """Objects as files under one folder; signed URLs are HMAC-signed, expiring tokens the API serves."""

    def __init__(self, root: Path, *, signing_key: bytes | None = None, signed_url_seconds: int = 3600) -> None:
        super().__init__(signed_url_seconds=signed_url_seconds)
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._key = signing_key or _signing_key(self.root.parent / "storage-url.key")

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if self.root not in path.parents:
            raise ValueError("invalid object key")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        shutil.copyfile(path, tmp)  # copies in chunks
        os.replace(tmp, target)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectMissing() from exc

    def open(self, key: str) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise ObjectMissing() from exc

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(CHUNK_SIZE):
                    yield chunk

        return chunks()

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            # Drop folders left empty, up to the root, so a user's prefix really disappears.
            parent = path.parent
            while parent != self.root and parent.is_dir():
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        prefix = _folder(prefix)
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(
            path.relative_to(self.root).as_posix()
            for path in base.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )

    def folders(self, prefix: str) -> builtins.list[str]:
        prefix = _folder(prefix)
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        return sorted(path.name for path in base.iterdir() if path.is_dir()) if base.is_dir() else []

    def signed_url(self, key: str, seconds: int | None = None, *, download: str | None = None) -> str:
        """A path on the API (`/v1/files/{token}`); the edge makes it absolute for the caller's host."""
        check_key(key)
        expires = int(time.time()) + (seconds if seconds is not None else self.signed_url_seconds)
        claims: dict[str, object] = {"k": key, "e": expires}
        if download:
            claims["d"] = check_file_name(download)
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{FILES_PATH}{payload}.{self._sign(payload)}"

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def verify_token(self, token: str, *, now: float | None = None) -> str:
        """The key a token grants access to; `SignedUrlInvalid` if tampered, `SignedUrlExpired` when late."""
        return self.verify_download(token, now=now)[0]

    def verify_download(self, token: str, *, now: float | None = None) -> tuple[str, str | None]:
        """The key a token grants access to and the attachment file name it was signed with (None: inline)."""
        payload, _, signature = token.partition(".")
        if not payload or not signature or not hmac.compare_digest(self._sign(payload), signature):
            raise SignedUrlInvalid()
        try:
            claims = json.loads(_unb64(payload))
            key, expires = str(claims["k"]), int(claims["e"])
            check_key(key)
            download = check_file_name(str(claims["d"])) if "d" in claims else None
        except (ValueError, KeyError, TypeError) as exc:
            raise SignedUrlInvalid() from exc
        if (time.time() if now is None else now) >= expires:
            raise SignedUrlExpired()
        return key, download


# ---------------------------------------------------------------------------------------------------------------
# Supabase Storage (storage3)


class SupabaseStorage(Storage):
    """A private Supabase Storage bucket through storage3, authenticated with the project's secret key.

    storage3 (with httpx and yarl) is imported when a SupabaseStorage is made, not with this module: the local
    stack and every test that stores in a folder never load it. The production API's Modal entry
    (functions/api_service.py) imports it before its memory snapshot, so no production request pays for it.
    """

    def __init__(
        self,
        url: str,
        secret_key: str,
        bucket: str,
        *,
        signed_url_seconds: int = 3600,
        timeout: float = 10.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        from storage3 import SyncStorageClient  # noqa: PLC0415  (lazy: see the class docstring)

        super().__init__(signed_url_seconds=signed_url_seconds)
        headers = {"apiKey": secret_key, "Authorization": f"Bearer {secret_key}"}
        self._http = http_client or http.client_with(timeout, follow_redirects=True)
        self._client = SyncStorageClient(f"{url.rstrip('/')}/storage/v1/", headers, http_client=self._http)
        self.bucket = bucket

    def _bucket(self) -> Any:
        return self._client.from_(self.bucket)

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        import httpx  # noqa: PLC0415  (loaded by __init__ already; see the class docstring)
        from storage3.exceptions import StorageApiError  # noqa: PLC0415

        try:
            return fn(*args)
        except StorageApiError as exc:
            if object_is_missing(exc):
                raise ObjectMissing() from exc
            raise StorageUnavailable(f"Storage refused to {what} ({refusal_code(exc)}).") from exc
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"Storage is unreachable ({what}).") from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        options = {"content-type": content_type, "upsert": "true", "cache-control": "3600"}
        self._call("store an object", self._bucket().upload, check_key(key), data, options)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """storage3 opens the path itself and httpx streams it as the multipart body, chunk by chunk."""
        options = {"content-type": content_type, "upsert": "true", "cache-control": "3600"}
        self._call("store an object", self._bucket().upload, check_key(key), path, options)

    def get(self, key: str) -> bytes:
        data: bytes = self._call("read an object", self._bucket().download, check_key(key))
        return data

    def delete(self, keys: Sequence[str]) -> None:
        names = [check_key(key) for key in keys]
        for start in range(0, len(names), REMOVE_BATCH):
            self._call("delete objects", self._bucket().remove, names[start : start + REMOVE_BATCH])

    def exists(self, key: str) -> bool:
        try:
            self._call("read object info", self._bucket().info, check_key(key))
        except ObjectMissing:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        found: list[str] = []
        folders = [_folder(prefix)]
        while folders:
            folder = folders.pop()
            offset = 0
            while True:
                options = {"limit": LIST_PAGE, "offset": offset, "sortBy": {"column": "name", "order": "asc"}}
                entries = self._call("list objects", self._bucket().list, folder.rstrip("/"), options)
                for entry in entries:
                    name = f"{folder}{entry['name']}"
                    if entry.get("id") is None:  # a folder: Storage lists one level at a time
                        folders.append(f"{name}/")
                    else:
                        found.append(name)
                if len(entries) < LIST_PAGE:
                    break
                offset += LIST_PAGE
        if not found:
            self.check_bucket()  # Storage lists a missing bucket as empty: "nothing there" only if it exists
        return sorted(found)

    def check_bucket(self) -> None:
        """`StorageUnavailable` unless the bucket exists and this key may read it (a wrong key sees no bucket)."""
        self._call("read the bucket", self._client.get_bucket, self.bucket)

    def folders(self, prefix: str) -> builtins.list[str]:
        """One level only (Storage lists a folder's entries; sub-folders are those without an id)."""
        names: builtins.list[str] = []
        offset = 0
        while True:
            options = {"limit": LIST_PAGE, "offset": offset, "sortBy": {"column": "name", "order": "asc"}}
            entries = self._call("list folders", self._bucket().list, _folder(prefix).rstrip("/"), options)
            names += [entry["name"] for entry in entries if entry.get("id") is None]
            if len(entries) < LIST_PAGE:
                return sorted(names)
            offset += LIST_PAGE

    def signed_url(self, key: str, seconds: int | None = None, *, download: str | None = None) -> str:
        lifetime = seconds if seconds is not None else self.signed_url_seconds
        options = {"download": check_file_name(download)} if download else None  # Supabase's Content-Disposition
        result = self._call("sign a URL", self._bucket().create_signed_url, check_key(key), lifetime, options)
        url = result.get("signedURL") or result.get("signedUrl")
        if not url:
            raise StorageUnavailable("Storage returned no signed URL.")
        return str(url)

    def signed_urls(self, keys: Sequence[str], seconds: int | None = None) -> dict[str, str]:
        lifetime = seconds if seconds is not None else self.signed_url_seconds
        names = [check_key(key) for key in keys]
        urls: dict[str, str] = {}
        for start in range(0, len(names), REMOVE_BATCH):
            batch = names[start : start + REMOVE_BATCH]
            if not batch:
                continue
            for item in self._call("sign URLs", self._bucket().create_signed_urls, batch, lifetime):
                if item.get("signedURL") and not item.get("error"):
                    urls[item["path"]] = str(item["signedURL"])
        return urls  # an object Storage could not sign (missing) is left out, not fatal for a whole page

    def close(self) -> None:
        self._http.close()


def _http_response(exc: BaseException) -> httpx.Response | None:
    """The HTTP answer behind a storage3 error (it keeps it as the cause or the context of what it raises)."""
    import httpx  # noqa: PLC0415  (loaded with storage3; see SupabaseStorage)

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.HTTPStatusError):
            return seen.response
        seen = seen.__cause__ or seen.__context__
    return None


def _error_body(response: httpx.Response | None) -> dict[str, Any]:
    if response is None:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def object_is_missing(exc: StorageApiError) -> bool:
    """Only Storage's own "no such object" means missing: code `NoSuchKey`, or (servers that predate codes) a 404
    on an object route whose body says the object was not found. A missing bucket (`NoSuchBucket`, which is
    also what a wrong key sees), a proxy's "route not found" or any other refusal is not a missing object."""
    response = _http_response(exc)
    body = _error_body(response)
    code = body.get("code")
    if code is not None:
        return bool(code == "NoSuchKey")
    on_object_route = response is not None and "/storage/v1/object/" in response.request.url.path
    said_missing = body.get("error") == "not_found" or body.get("message") == "Object not found"
    return on_object_route and str(body.get("statusCode")) == "404" and said_missing


def refusal_code(exc: StorageApiError) -> str:
    """A short, log-safe description of a refusal: Storage's code and status (never the message: it may hold a key)."""
    body = _error_body(_http_response(exc))
    return f"{body.get('code') or exc.code}, status {body.get('statusCode') or exc.status}"


def build_storage(settings: Settings) -> Storage:
    """The backend the settings choose: Supabase when configured (or `ATELIER_STORAGE=supabase`), else local."""
    if settings.storage_kind == "supabase":
        if not settings.supabase_url or not settings.supabase_secret_key:
            raise ValueError("ATELIER_STORAGE=supabase needs SUPABASE_URL and SUPABASE_SECRET_KEY")
        return SupabaseStorage(
            settings.supabase_url,
            settings.supabase_secret_key,
            settings.storage_bucket,
            signed_url_seconds=settings.signed_url_seconds,
            timeout=settings.http_timeout_seconds,
        )
    if settings.is_production:
        raise ValueError("production stores objects in Supabase Storage, never in a local folder")
    return LocalStorage(settings.storage_dir, signed_url_seconds=settings.signed_url_seconds)
