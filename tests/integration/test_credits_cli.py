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
from shared.kit.db.embedded import embedded_database_url
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


@pytest.mark.slow
def test_every_verb_that_takes_an_email_refuses_an_unknown_one_the_same_way(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    make_account(db, "twin@example.com")
    make_account(db, "Twin@Example.com")
    verbs = [
        ["credits", "grant", "{}", "5", "--reason", "x"],
        ["privacy", "log-request", "{}", "--kind", "access"],
        ["moderation", "suspend", "{}", "--reason", "x"],
        ["moderation", "unsuspend", "{}"],
    ]
    for email, code in (("nobody@example.com", "account_not_found"), ("twin@example.com", "ambiguous_email")):
        answers = set()
        for verb in verbs:
            done = _deploy(database_url, tmp_path, *[email if part == "{}" else part for part in verb])
            assert done.returncode == 2, (verb, done.stdout)
            assert done.stderr.strip().splitlines()[-1].startswith(f"{code}: "), (verb, done.stderr)
            assert email not in done.stdout + done.stderr
            answers.add(done.stderr.strip().splitlines()[-1])
        assert len(answers) == 1, answers  # word for word the same refusal from each verb
    with db.transaction() as conn:
        for table in ("credit_grants", "audit_log", "privacy_requests"):
            assert conn.execute(f"select count(*) as n from {table}").fetchone() == {"n": 0}, table


@pytest.mark.slow
def test_operator_verbs_work_on_the_local_stack_named_by_data_dir(tmp_path: Path) -> None:
    """With no DATABASE_URL a verb opens the embedded Postgres of `--data-dir`, as `local --data-dir` does, not the
    one of ATELIER_DATA_DIR."""
    stack, elsewhere = tmp_path / "stack", tmp_path / "elsewhere"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_JWT_SECRET")}
    env["ATELIER_DATA_DIR"] = str(elsewhere)

    def deploy(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "deploy.py", *args, "--data-dir", str(stack)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    migrated = deploy("migrate")
    assert migrated.returncode == 0, migrated.stderr
    unknown = deploy("credits", "grant", "ada@example.com", "5", "--reason", "welcome")
    assert unknown.returncode == 2
    assert "account_not_found" in unknown.stderr  # the stack's migrated database answered, no account in it yet
    stack_db = Database(embedded_database_url(stack), min_size=1, max_size=2).open()
    try:
        user = make_account(stack_db, "ada@example.com")
        granted = deploy("credits", "grant", "ada@example.com", "5", "--reason", "welcome")
        assert granted.returncode == 0, granted.stderr
        assert f"account {user}" in granted.stdout
        with stack_db.transaction() as conn:
            assert [(g.kind, g.amount) for g in credits.live_grants(conn, user)] == [("adjustment", 5)]
    finally:
        stack_db.close()
    assert (stack / "pg").is_dir()
    assert not elsewhere.exists()  # nothing opened the folder ATELIER_DATA_DIR names
