"""What the Modal images mount is what runs: the API started from exactly the files its image carries.

The file set is read from the image definitions (functions/modal_app.py), copied into an empty folder standing for
the container's /root, and the API is served from there by an interpreter that sees only that folder and the
installed packages (no `.pth` files, so not the project's editable install), against a migrated Postgres.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from functions import modal_app
from tests.support.modal_images import image_files, materialise
from tests.support.tokens import HS256_SECRET, bearer, hs256

ROOT = Path(__file__).resolve().parents[2]
SERVE = """
import sys
import functions
assert functions.__file__.startswith(sys.argv[1]), functions.__file__  # not the checkout
import uvicorn
from functions.api.app import create_app
uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[2]), log_config=None)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def api_from_image(database_url: str, tmp_path: Path) -> Iterator[str]:
    root = materialise(modal_app.api_image, tmp_path / "container")
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ATELIER_", "SUPABASE_", "POLAR_")) and key not in ("PYTHONPATH", "DATABASE_URL")
    }
    env.update(
        {
            # -S skips site (and the editable install's finder); the installed packages come from PYTHONPATH.
            "PYTHONPATH": sysconfig.get_paths()["purelib"],
            "DATABASE_URL": database_url,
            "ATELIER_DATA_DIR": str(tmp_path / "data"),
            "SUPABASE_JWT_SECRET": HS256_SECRET,
        }
    )
    server = subprocess.Popen(
        [sys.executable, "-S", "-c", SERVE, str(root), str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert server.poll() is None, server.communicate()[0]
        yield base
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
        print(output)


@pytest.mark.slow
def test_the_api_served_from_its_image_files_reads_policies_onboards_and_takes_a_job(api_from_image: str) -> None:
    base = api_from_image
    auth = bearer(hs256(user_id=uuid.uuid4(), email="image@example.com"))
    current = httpx.get(f"{base}/v1/policies/current", timeout=10)
    assert current.status_code == 200, current.text
    version = current.json()["version"]
    onboarding = {"age_confirmed": True, "accepted_policy_version": version}
    onboarded = httpx.post(f"{base}/v1/me/onboarding", json=onboarding, headers=auth, timeout=10)
    assert onboarded.status_code in (200, 201), onboarded.text
    job = httpx.post(
        f"{base}/v1/jobs", json={"task": "text_to_image", "prompt": "a lighthouse at dusk"}, headers=auth, timeout=10
    )
    assert job.status_code == 202, job.text
    assert job.json()["status"] == "queued"
    products = httpx.get(f"{base}/v1/billing/products", timeout=10)
    assert products.status_code == 200, products.text
    assert products.json()["items"]


def test_every_image_carries_every_runtime_data_file() -> None:
    """Policies, products, migrations and any other non-Python file of the packages reach every container."""
    for name, image in modal_app.IMAGES.items():
        carried = {str(remote) for remote in image_files(image)}
        for package in modal_app.LOCAL_SOURCES:
            for path in (ROOT / package).rglob("*"):
                relative = path.relative_to(ROOT)
                if not path.is_file() or "__pycache__" in relative.parts or path.suffix == ".pyc":
                    continue
                if name in ("api", "web") and relative.parts[:2] == ("functions", "generation"):
                    continue
                assert f"/root/{relative.as_posix()}" in carried, (name, relative)


def test_the_api_image_carries_no_generation_code() -> None:
    carried = {str(remote) for remote in image_files(modal_app.api_image)}
    assert not [path for path in carried if path.startswith("/root/functions/generation")]
    assert "/root/functions/job_routing.py" in carried
