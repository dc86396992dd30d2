"""`python deploy.py support ...`: the operator lists, reads and answers tickets; the answer is a staff message the
user sees over HTTP and an email a real SMTP server receives; ticket text never reaches the logs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from functions.tasks import run_deliver_email
from shared.kit.db import Database
from tests.support.people import onboard, person
from tests.support.smtp import smtp_server
from tests.support.tokens import HS256_SECRET

ROOT = Path(__file__).resolve().parents[2]
SECRET_TEXT = "my invoice 4711 shows the wrong amount"
REPLY = "Thank you! We corrected invoice 4711; the refund arrives within five days."


def _deploy(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "ATELIER_DATA_DIR": str(tmp_path / "cli")}
    return subprocess.run(
        [sys.executable, "deploy.py", "support", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_list_show_reply_and_close(tmp_path: Path, db: Database, database_url: str) -> None:
    with smtp_server(tmp_path) as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            supabase_jwt_secret=HS256_SECRET,
            email_sender="smtp",
            smtp_url=server.url,
            smtp_ca_file=server.ca_file,
            email_from="Atelier <hello@atelier.test>",
            app_url="https://studio.atelier.test",
        )
        with TestClient(create_app(settings, db)) as client:
            ada = person("ada@example.com")
            onboard(client, ada)
            opened = client.post(
                "/v1/support/tickets", headers=ada.headers, data={"subject": "Invoice", "message": SECRET_TEXT}
            )
            assert opened.status_code == 201, opened.text
            ticket_id = opened.json()["id"]
            visitor = client.post(
                "/v1/contact", json={"email": "vera@example.com", "topic": "billing", "message": "Do you invoice?"}
            )
            assert visitor.status_code == 202, visitor.text
            contact_id = visitor.json()["id"]
            reference = visitor.json()["reference"]

            listed = _deploy(database_url, tmp_path, "list", "--open")
            assert listed.returncode == 0, listed.stderr
            assert ticket_id in listed.stdout
            assert contact_id in listed.stdout
            assert "2 ticket(s)" in listed.stdout
            for private in (SECRET_TEXT, "ada@example.com", "vera@example.com", "Do you invoice"):
                assert private not in listed.stdout + listed.stderr

            shown = _deploy(database_url, tmp_path, "show", ticket_id)
            assert shown.returncode == 0, shown.stderr
            assert SECRET_TEXT in shown.stdout
            assert SECRET_TEXT not in shown.stderr  # the logs
            assert "ada@example.com" not in shown.stdout

            answer = tmp_path / "reply.md"
            answer.write_text(REPLY, encoding="utf-8")
            replied = _deploy(database_url, tmp_path, "reply", ticket_id, "--file", str(answer), "--close")
            assert replied.returncode == 0, replied.stderr
            for private in (REPLY, SECRET_TEXT, "ada@example.com"):
                assert private not in replied.stderr
            assert reference in listed.stdout
            # The person quotes the short reference (any case, with a dash): the operator answers by it.
            quoted = f"{reference[:4].lower()}-{reference[4:]}"
            assert _deploy(database_url, tmp_path, "reply", quoted, "--file", str(answer)).returncode == 0
            assert "Do you invoice?" in _deploy(database_url, tmp_path, "show", reference).stdout

            thread = client.get(f"/v1/support/tickets/{ticket_id}", headers=ada.headers).json()
            assert thread["status"] == "closed"
            assert [(m["author"], m["body"]) for m in thread["messages"]] == [("user", SECRET_TEXT), ("staff", REPLY)]
            assert ticket_id not in _deploy(database_url, tmp_path, "list", "--open").stdout
            assert run_deliver_email(db, datetime.now(UTC), settings) == 3  # acknowledgement and two replies

    by_recipient = {r.rcpt_tos[0]: r.message for r in server.received}
    assert set(by_recipient) == {"ada@example.com", "vera@example.com"}
    to_ada = by_recipient["ada@example.com"]
    assert to_ada["Subject"] == "Re: Invoice"
    text = to_ada.get_body(preferencelist=("plain",))
    assert text is not None
    assert REPLY in str(text.get_content())
    assert "https://studio.atelier.test/#/support" in str(text.get_content())
    vera = [r.message["Subject"] for r in server.received if r.rcpt_tos == ["vera@example.com"]]
    assert sorted(vera) == ["Atelier: we received your message", "Re: Contact form: billing"]


@pytest.mark.slow
def test_refusals_name_their_code(tmp_path: Path, db: Database, database_url: str) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("   \n", encoding="utf-8")
    missing = _deploy(database_url, tmp_path, "show", "00000000-0000-0000-0000-000000000000")
    assert (missing.returncode, "not_found" in missing.stderr) == (2, True)
    garbled = _deploy(database_url, tmp_path, "show", "not-a-uuid")
    assert garbled.returncode == 2
    with db.transaction() as conn:
        row = conn.execute(
            """insert into support_tickets (subject, source, contact_email) values ('x', 'contact', 'v@example.com')
               returning id"""
        ).fetchone()
    assert row is not None
    blank = _deploy(database_url, tmp_path, "reply", str(row["id"]), "--file", str(empty))
    assert (blank.returncode, "invalid_support_text" in blank.stderr) == (2, True)
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from support_messages").fetchone() == {"n": 0}
        assert conn.execute("select count(*) as n from email_outbox").fetchone() == {"n": 0}
