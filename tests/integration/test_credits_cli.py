"""`python deploy.py credits grant EMAIL AMOUNT --reason ...`: an audited adjustment, run as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import audit
from shared.credits import service as credits
from shared.kit.db import Database
from tests.support.accounts import make_account

ROOT = Path(__file__).resolve().parents[2]


def _deploy(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "ATELIER_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "deploy.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_operator_grants_adjustment_credits_and_it_is_audited(db: Database, database_url: str, tmp_path: Path) -> None:
    user = make_account(db, "Grace@Example.com")
    done = _deploy(
        database_url, tmp_path, "credits", "grant", "grace@example.com", "25", "--reason", "apology", "--ref", "t-1"
    )
    assert done.returncode == 0, done.stderr
    again = _deploy(
        database_url, tmp_path, "credits", "grant", "grace@example.com", "25", "--reason", "apology", "--ref", "t-1"
    )
    assert again.returncode == 0, again.stderr
    assert "grace" not in (done.stdout + done.stderr + again.stdout + again.stderr).lower()
    with db.transaction() as conn:
        grants = credits.live_grants(conn, user)
        rows = conn.execute("select * from audit_log").fetchall()
        ref = audit.subject_ref(conn, user)
    assert [(g.kind, g.amount, g.reason, g.expires_at) for g in grants] == [("adjustment", 25, "apology", None)]
    assert len(rows) == 1  # the replay with the same --ref granted nothing and audited nothing
    [row] = rows
    assert (row["actor"], row["action"], row["subject_ref"]) == ("operator", "credits.grant", ref)
    assert row["details"]["amount"] == 25
    assert row["details"]["grant_id"] == str(grants[0].id)
    assert "grace" not in str(row).lower()
    assert "apology" not in str(row)


@pytest.mark.slow
def test_operator_errors_are_clear_and_change_nothing(db: Database, database_url: str, tmp_path: Path) -> None:
    make_account(db, "twin@example.com")
    make_account(db, "TWIN@example.com")
    make_account(db, "one@example.com")
    cases = [
        (["nobody@example.com", "5", "--reason", "x"], "account_not_found"),
        (["twin@example.com", "5", "--reason", "x"], "ambiguous_email"),
        (["one@example.com", "0", "--reason", "x"], "invalid_amount"),
        (["one@example.com", "5", "--reason", " "], "reason_required"),
    ]
    for args, code in cases:
        done = _deploy(database_url, tmp_path, "credits", "grant", *args)
        assert done.returncode == 2, done.stdout
        assert code in done.stderr
    missing_reason = _deploy(database_url, tmp_path, "credits", "grant", "one@example.com", "5")
    assert missing_reason.returncode == 2
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from credit_grants").fetchone() == {"n": 0}
        assert conn.execute("select count(*) as n from audit_log").fetchone() == {"n": 0}
