"""Classifier cold start (issue 31, item 7): on a fresh data folder the first uploads answered 503
`moderation_unavailable` (4 of 6) while the tiny classifier was being built, with no log line.

The classifier is now built and loaded before `/healthz` says ready, loading is serialised (six first images at once
imported transformers from six threads, and five failed), and every 503 is logged by code and cause class."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database
from shared.moderation import Classification, ClassifierModerator
from tests.generation.conftest import png
from tests.support.people import onboard, person
from tests.support.tokens import HS256_SECRET

ROOT = Path(__file__).resolve().parents[2]


def test_six_first_images_at_once_on_a_fresh_folder_are_all_judged(tmp_path: Path) -> None:
    # A fresh interpreter, as a freshly started server is: nothing of torch or transformers imported yet.
    script = textwrap.dedent(
        f"""
        import io, json, threading
        from pathlib import Path
        from PIL import Image
        from config.settings import Settings
        from functions.safety.factory import InProcessClassifier
        settings = Settings(data_dir=Path({str(tmp_path / "data")!r}))
        buffer = io.BytesIO()
        Image.new("RGB", (16, 16), (10, 200, 10)).save(buffer, "PNG")
        errors, models = [], []
        def judge():
            try:
                models.append(InProcessClassifier(settings).classify(buffer.getvalue()).model)
            except Exception as exc:
                errors.append(type(exc).__name__)
        threads = [threading.Thread(target=judge) for _ in range(6)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(json.dumps({{"errors": errors, "models": models}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["errors"] == []
    assert len(found["models"]) == 6


class Slow:
    """A classifier whose loading the test controls."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.loaded = False

    def warm(self) -> None:
        assert self.release.wait(30)
        self.loaded = True

    def classify(self, image_bytes: bytes) -> Classification:
        return Classification({"sexual": 0.0}, "slow@1")


def test_healthz_says_not_ready_until_the_classifier_is_loaded(tmp_path: Path, db: Database) -> None:
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET)
    slow = Slow()
    app = create_app(settings, db, moderator=ClassifierModerator(slow), warm_up=True)
    with TestClient(app) as client:
        starting = client.get("/healthz")
        assert starting.status_code == 503
        assert starting.json()["error"]["code"] == "not_ready"
        slow.release.set()
        assert app.state.readiness.wait(30)
        assert slow.loaded
        assert client.get("/healthz").json() == {"status": "ok"}


def test_a_fresh_folder_serves_its_first_uploads_once_ready(tmp_path: Path, db: Database) -> None:
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET)
    app = create_app(settings, db, warm_up=True)  # the in-process tiny classifier, as the local stack uses
    with TestClient(app) as client:
        assert app.state.readiness.wait(120)
        assert app.state.readiness.failure is None
        assert client.get("/healthz").status_code == 200
        assert any((settings.data_dir / "models" / "tiny").glob("classifier-*"))  # built before the first image
        who = person()
        onboard(client, who)

        def upload(index: int) -> int:
            files = {"file": (f"{index}.png", png(24, 24, (index * 30, 90, 90)), "image/png")}
            return client.post("/v1/uploads", headers=who.headers, files=files).status_code

        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(upload, range(6))) == [201] * 6


class Broken:
    def classify(self, image_bytes: bytes) -> Classification:
        raise ConnectionError("classifier unreachable at 10.1.2.3")


def test_every_503_is_logged_with_its_code_and_cause_class_only(
    tmp_path: Path, db: Database, log_output: io.StringIO
) -> None:
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET)
    with TestClient(create_app(settings, db, moderator=ClassifierModerator(Broken()))) as client:
        who = person()
        onboard(client, who)
        refused = client.post("/v1/uploads", headers=who.headers, files={"file": ("a.png", png(16, 16), "image/png")})
        assert refused.status_code == 503
    records = [json.loads(line) for line in log_output.getvalue().splitlines() if line.strip()]
    [line] = [r for r in records if r.get("message") == "unavailable"]
    assert line["code"] == "moderation_unavailable"
    assert line["cause_class"] == "ConnectionError"
    assert line["route"] == "/v1/uploads"
    assert line["request_id"]
    text = log_output.getvalue()
    assert who.email not in text
    assert "10.1.2.3" not in text
    assert "unreachable" not in text
