"""`deploy.py deploy` checks before it ships: the Storage bucket is created private when missing and a public one is
refused (Supabase Storage faked at its HTTP boundary, answering as the real server does); with Modal's client
pointed at nothing reachable, deploy gets past every check to building the App."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.media.bucket import BucketRefused, ensure_private_bucket
from tests.support.loopback import Loopback, Recorded, Reply, Route, loopback_server

ROOT = Path(__file__).resolve().parents[2]
KEY = "sb_secret_deploy-test-key"
BUCKET = "atelier"


def _error(http_status: int, status: str, error: str, message: str) -> Reply:
    return Reply(http_status, {"statusCode": status, "error": error, "message": message})


@dataclass
class BucketApi:
    """Supabase Storage's bucket routes: a missing bucket is HTTP 400 `statusCode "404"`, a bad key 403."""

    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_with: int | None = None

    def _authorised(self, rec: Recorded) -> bool:
        headers = {k.lower(): v for k, v in rec.headers.items()}
        return headers.get("authorization") == f"Bearer {KEY}" and headers.get("apikey") == KEY

    def get(self, rec: Recorded) -> Reply:
        if self.fail_with:
            return Reply(self.fail_with, {"message": "upstream failure"})
        if not self._authorised(rec):
            return _error(400, "403", "Unauthorized", "Invalid Compact JWS")
        found = self.buckets.get(rec.path.rsplit("/", 1)[-1])
        if found is None:
            return _error(400, "404", "Bucket not found", "Bucket not found")
        return Reply(200, found)

    def create(self, rec: Recorded) -> Reply:
        if not self._authorised(rec):
            return _error(400, "403", "Unauthorized", "Invalid Compact JWS")
        body = json.loads(rec.body)
        if body["id"] in self.buckets:
            return _error(400, "409", "Duplicate", "The resource already exists")
        now = "2030-01-01T00:00:00.000Z"
        self.buckets[body["id"]] = {
            "id": body["id"], "name": body["name"], "owner": "", "public": bool(body.get("public")),
            "created_at": now, "updated_at": now, "file_size_limit": None, "allowed_mime_types": None,
        }  # fmt: skip
        return Reply(200, {"name": body["id"]})


@pytest.fixture
def storage() -> Iterator[tuple[BucketApi, Loopback]]:
    api = BucketApi()
    routes: dict[tuple[str, str], Route] = {
        ("GET", f"/storage/v1/bucket/{BUCKET}"): api.get,
        ("POST", "/storage/v1/bucket"): api.create,
    }
    with loopback_server(routes) as server:
        yield api, server


def test_a_missing_bucket_is_created_private_and_then_found(storage: tuple[BucketApi, Loopback]) -> None:
    api, server = storage
    assert ensure_private_bucket(server.url, KEY, BUCKET) == "created"
    assert api.buckets[BUCKET]["public"] is False
    created = [r for r in server.requests if r.method == "POST"]
    assert json.loads(created[0].body)["public"] is False
    assert ensure_private_bucket(server.url, KEY, BUCKET) == "exists"
    assert len([r for r in server.requests if r.method == "POST"]) == 1


def test_a_public_bucket_is_refused_and_left_alone(storage: tuple[BucketApi, Loopback]) -> None:
    api, server = storage
    api.buckets[BUCKET] = {
        "id": BUCKET, "name": BUCKET, "owner": "", "public": True, "created_at": "2030-01-01T00:00:00Z",
        "updated_at": "2030-01-01T00:00:00Z", "file_size_limit": None, "allowed_mime_types": None,
    }  # fmt: skip
    with pytest.raises(BucketRefused, match="is public"):
        ensure_private_bucket(server.url, KEY, BUCKET)
    assert [r.method for r in server.requests] == ["GET"]
    assert api.buckets[BUCKET]["public"] is True


def test_a_wrong_key_or_a_failing_storage_is_refused_not_taken_for_missing(storage: tuple[BucketApi, Loopback]) -> None:
    api, server = storage
    with pytest.raises(BucketRefused, match="SUPABASE_SECRET_KEY"):
        ensure_private_bucket(server.url, "sb_publishable_wrong", BUCKET)
    api.fail_with = 502
    with pytest.raises(BucketRefused, match="502"):
        ensure_private_bucket(server.url, KEY, BUCKET)
    assert not [r for r in server.requests if r.method == "POST"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(BucketRefused, match="unreachable"):
        ensure_private_bucket(f"http://127.0.0.1:{closed}", KEY, BUCKET, timeout=2)


def _deploy(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "SUPABASE_", "POLAR_", "MODAL_"))}
    clean.update({"HOME": str(tmp_path), "ATELIER_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run(
        [sys.executable, "deploy.py", "deploy"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def _unreachable_modal() -> dict[str, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return {"MODAL_SERVER_URL": f"http://127.0.0.1:{port}", "MODAL_TOKEN_ID": "ak-x", "MODAL_TOKEN_SECRET": "as-x"}


# What the privacy policy needs to name (Settings.privacy_settings_missing); a deploy without them is refused.
PRIVACY = {
    "ATELIER_CONTROLLER_NAME": "Atelier Studio SAS",
    "ATELIER_CONTROLLER_ADDRESS": "12 rue de l'Exemple, 75001 Paris, France",
    "ATELIER_CONTROLLER_EMAIL": "privacy@atelier.example",
    "ATELIER_SUPERVISORY_AUTHORITY": "CNIL https://www.cnil.fr",
    "ATELIER_PROCESSOR_REGIONS": "supabase=EU (Frankfurt);modal=United States",
    "ATELIER_TRANSFER_SAFEGUARDS": "supabase=none: stays in the EEA;modal=standard contractual clauses",
}


@pytest.mark.slow
def test_deploy_gets_past_every_check_to_building_the_app(
    storage: tuple[BucketApi, Loopback], database_url: str, tmp_path: Path
) -> None:
    api, server = storage
    env = {"DATABASE_URL": database_url, "SUPABASE_URL": server.url, "SUPABASE_SECRET_KEY": KEY, **PRIVACY}
    result = _deploy({**env, **_unreachable_modal()}, tmp_path)
    output = result.stdout + result.stderr
    assert "refused" not in output, output
    assert "applied 0 migration(s)" in result.stdout, output
    assert f"storage bucket '{BUCKET}': created, private" in result.stdout, output
    assert "building the Modal App 'atelier'" in result.stdout, output
    assert "Modal is unreachable" in result.stderr, output
    assert result.returncode == 1
    assert api.buckets[BUCKET]["public"] is False


@pytest.mark.slow
def test_deploy_refuses_a_public_bucket_and_missing_settings(
    storage: tuple[BucketApi, Loopback], database_url: str, tmp_path: Path
) -> None:
    api, server = storage
    api.buckets[BUCKET] = {
        "id": BUCKET, "name": BUCKET, "owner": "", "public": True, "created_at": "2030-01-01T00:00:00Z",
        "updated_at": "2030-01-01T00:00:00Z", "file_size_limit": None, "allowed_mime_types": None,
    }  # fmt: skip
    env = {"DATABASE_URL": database_url, "SUPABASE_URL": server.url, "SUPABASE_SECRET_KEY": KEY, **PRIVACY}
    public = _deploy({**env, **_unreachable_modal()}, tmp_path)
    assert public.returncode == 2, public.stdout + public.stderr
    assert f"deploy refused: bucket '{BUCKET}' is public" in public.stderr
    assert "building the Modal App" not in public.stdout
    unset = _deploy({"DATABASE_URL": database_url}, tmp_path)
    assert unset.returncode == 2
    assert "SUPABASE_URL, SUPABASE_SECRET_KEY" in unset.stderr


def _local(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`deploy.py local` on a free port; every case here must stop at the bucket check, before the stack starts."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "SUPABASE_", "POLAR_", "MODAL_"))}
    clean.update({"HOME": str(tmp_path), **env})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return subprocess.run(
        [sys.executable, "deploy.py", "local", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_local_with_supabase_storage_checks_its_bucket_at_start_as_deploy_does(
    storage: tuple[BucketApi, Loopback], tmp_path: Path
) -> None:
    api, server = storage
    api.buckets[BUCKET] = {
        "id": BUCKET, "name": BUCKET, "owner": "", "public": True, "created_at": "2030-01-01T00:00:00Z",
        "updated_at": "2030-01-01T00:00:00Z", "file_size_limit": None, "allowed_mime_types": None,
    }  # fmt: skip
    public = _local({"SUPABASE_URL": server.url, "SUPABASE_SECRET_KEY": KEY}, tmp_path)
    assert public.returncode == 2, public.stdout + public.stderr
    assert f"local refused: bucket '{BUCKET}' is public" in public.stderr
    wrong_key = _local({"SUPABASE_URL": server.url, "SUPABASE_SECRET_KEY": "sb_publishable_wrong"}, tmp_path)
    assert wrong_key.returncode == 2, wrong_key.stdout + wrong_key.stderr
    assert "local refused: Storage refused to describe bucket" in wrong_key.stderr
    assert [rec.path for rec in server.requests] == [f"/storage/v1/bucket/{BUCKET}"] * 2
    unset = _local({"ATELIER_STORAGE": "supabase"}, tmp_path)
    assert unset.returncode == 2
    assert "SUPABASE_URL and SUPABASE_SECRET_KEY" in unset.stderr
    assert not (tmp_path / "data").exists()  # refused before anything started


@pytest.mark.slow
def test_deploy_refuses_an_unset_or_placeholder_controller_authority_or_processor_region(
    storage: tuple[BucketApi, Loopback], database_url: str, tmp_path: Path
) -> None:
    _, server = storage
    env = {"DATABASE_URL": database_url, "SUPABASE_URL": server.url, "SUPABASE_SECRET_KEY": KEY, **_unreachable_modal()}
    unset = _deploy(env, tmp_path)
    assert unset.returncode == 2, unset.stdout + unset.stderr
    for name in (
        "ATELIER_CONTROLLER_NAME", "ATELIER_CONTROLLER_ADDRESS", "ATELIER_CONTROLLER_EMAIL",
        "ATELIER_SUPERVISORY_AUTHORITY", "ATELIER_PROCESSOR_REGIONS (supabase=...)",
        "ATELIER_TRANSFER_SAFEGUARDS (modal=...)",
    ):  # fmt: skip
        assert name in unset.stderr, unset.stderr
    placeholders = {
        **PRIVACY,
        "ATELIER_CONTROLLER_NAME": "changeme",
        "ATELIER_SUPERVISORY_AUTHORITY": "CNIL",  # no URL
        "ATELIER_PROCESSOR_REGIONS": "supabase=TODO;modal=United States",
        "ATELIER_DPO_EMAIL": "placeholder",
        "POLAR_ACCESS_TOKEN": "polar_oat_x",
        "POLAR_WEBHOOK_SECRET": "whsec_x",
    }
    refused = _deploy({**env, **placeholders}, tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "deploy refused: the privacy policy" in refused.stderr
    for name in (
        "ATELIER_CONTROLLER_NAME", "ATELIER_SUPERVISORY_AUTHORITY (name, then its https:// URL)",
        "ATELIER_PROCESSOR_REGIONS (supabase=...)", "ATELIER_DPO_EMAIL", "ATELIER_PROCESSOR_REGIONS (polar=...)",
    ):  # fmt: skip
        assert name in refused.stderr, refused.stderr
    assert "ATELIER_CONTROLLER_EMAIL" not in refused.stderr
    assert "applied" not in refused.stdout  # refused before migrating or touching the bucket
    assert not server.requests
