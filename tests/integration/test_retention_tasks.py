"""The registered tasks run end to end through `deploy.py task NAME`, against the real clock."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.settings import Settings
from shared.credits import service as credits
from shared.kit.db import Database
from shared.media import service as media
from shared.media.storage import build_storage
from shared.tasks.runner import history
from tests.support.accounts import make_account

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_task_runs_each_new_task_now(tmp_path: Path, db: Database, database_url: str) -> None:
    now = datetime.now(UTC)
    data_dir = tmp_path / "cli"
    storage = build_storage(Settings(data_dir=data_dir))
    user_id = make_account(db)
    key = f"users/{user_id}/outputs/{uuid.uuid4()}.png"
    storage.put(key, b"png", "image/png")
    with db.transaction() as conn:
        conn.execute(
            """insert into security_events (id, at, kind, subject_kind, subject_ref, count, window_start,
                                            window_seconds)
               values (gen_random_uuid(), %s, 'access_denied', 'ip', 'h', 11, %s, 60)""",
            (now - timedelta(days=91), now - timedelta(days=91)),
        )
        media_id = uuid.uuid4()
        conn.execute(
            """insert into media (id, user_id, kind, storage_key, content_type, width, height, bytes, sha256)
               values (%s, %s, 'output', %s, 'image/png', 8, 8, 3, %s)""",
            (media_id, user_id, key, "0" * 64),
        )
        media.trash(conn, user_id, media_id, now=now - timedelta(days=31), trash_days=30)
        month_ago = now - timedelta(days=31)
        credits.grant(
            conn,
            user_id=user_id,
            amount=10,
            kind="subscription",
            source_ref="sub:period",
            expires_at=now - timedelta(days=1),
            now=month_ago,
        )
        credits.grant(conn, user_id=user_id, amount=2, kind="adjustment", source_ref="keep", expires_at=None)
        credits.reserve(
            conn, user_id=user_id, amount=2, ref="job", ttl=timedelta(minutes=1), now=now - timedelta(hours=1)
        )

    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "ATELIER_DATA_DIR": str(data_dir)}
    for name in ("enforce-retention", "expire-holds", "expire-credits", "purge-media"):
        done = subprocess.run(
            [sys.executable, "deploy.py", "task", name], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert f"{name}: succeeded, 1 item(s)" in done.stdout, (name, done.stdout, done.stderr)
    assert not storage.exists(key)
    assert {run.task for run in history(db)} >= {"enforce-retention", "expire-holds", "expire-credits", "purge-media"}
