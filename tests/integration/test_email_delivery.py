"""Email that really leaves: the deliver-email task against a real SMTP server (aiosmtpd) on loopback, with TLS.

What the server received is read back: one mail per user for a material policy change with the right recipient
and links; export-ready and deletion mails; a transient failure retried and delivered once; a permanent
failure stopped; two concurrent runs delivering each row once; an erased user's queued mail never sent; and no
address in the captured logs.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from functions.tasks import TASKS, run_deliver_email
from shared.accounts.auth_admin import SupabaseAuthAdmin
from shared.kit.db import Database
from shared.notify.email import SenderUnavailable
from shared.notify.outbox import deliver, deliver_due, site_from
from shared.notify.policy_update import publish
from shared.notify.smtp import SmtpEmailSender
from shared.privacy import exports
from shared.privacy.erasure import Processors, run_erasures
from tests.support.loopback import Reply, loopback_server
from tests.support.people import Person, onboard, person
from tests.support.smtp import Received, SmtpServer, smtp_server
from tests.support.tokens import HS256_SECRET, bearer, hs256

API = "https://api.atelier.test"
APP = "https://studio.atelier.test"
PRODUCT = "Studio Nine"
ADDRESS = re.compile(r"[\w.+-]+@example\.com")


@dataclass
class Mail:
    client: TestClient
    db: Database
    settings: Settings
    server: SmtpServer

    def sender(self) -> SmtpEmailSender:
        return SmtpEmailSender.from_settings(self.settings)

    def run(self, now: datetime | None = None) -> int:
        """The deliver-email task, as Modal and `deploy.py task deliver-email` run it."""
        return run_deliver_email(self.db, now or datetime.now(UTC), self.settings)

    def outbox(self) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            return conn.execute(
                """select template, user_id, attempts, sent_at, failed_at, last_error, next_attempt_at
                     from email_outbox order by created_at, id"""
            ).fetchall()


def _settings(tmp_path: Path, server: SmtpServer, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        supabase_jwt_secret=HS256_SECRET,
        email_sender="smtp",
        smtp_url=server.url,
        smtp_ca_file=server.ca_file,
        email_from=f"{PRODUCT} <hello@atelier.test>",
        product_name=PRODUCT,
        public_url=API,
        app_url=APP,
        **extra,
    )


@pytest.fixture
def mail(tmp_path: Path, db: Database) -> Iterator[Mail]:
    with smtp_server(tmp_path) as server:
        settings = _settings(tmp_path, server)
        with TestClient(create_app(settings, db)) as client:
            yield Mail(client, db, settings, server)


def our_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Every record Atelier logged, with its extras (the test SMTP server's own protocol log left out)."""
    return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if not r.name.startswith("mail.log"))


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None, "multipart: plain text"
    assert html is not None, "multipart: HTML"
    return str(text.get_content()), str(html.get_content())


def _to(received: list[Received]) -> list[str]:
    return sorted(address for r in received for address in r.rcpt_tos)


def _people(mail: Mail, count: int) -> list[Person]:
    people = [person() for _ in range(count)]
    for who in people:
        onboard(mail.client, who)
    return people


def test_the_task_is_registered_every_minute() -> None:
    assert TASKS["deliver-email"].schedule == "* * * * *"
    assert TASKS["deliver-email"].run is run_deliver_email


def test_material_policy_change_mails_each_user_once_with_links(mail: Mail, caplog: pytest.LogCaptureFixture) -> None:
    people = _people(mail, 3)
    publish(mail.db, "Privacy v2: we changed processors.\n", kind="privacy", material=True)
    with caplog.at_level(logging.DEBUG):
        assert mail.run() == 3
        assert mail.run() == 0  # sent rows stay sent
    received = mail.server.received
    assert _to(received) == sorted(p.email for p in people)
    for item in received:
        message = item.message
        assert item.mail_from == "hello@atelier.test"
        assert message["To"] in {p.email for p in people}
        assert message["Subject"] == f"{PRODUCT}: we updated our Privacy Policy"
        assert message["Message-ID"].endswith("@atelier.test>")
        assert message["Date"]
        assert message["List-Unsubscribe"] is None  # a material change is a notice the law requires
        text, html = _parts(message)
        assert f"{API}/v1/policies/privacy/2" in text
        assert f'href="{API}/v1/policies/privacy/2"' in html
        assert "If you do nothing" in text
    assert len({r.message["Message-ID"] for r in received}) == 3
    assert not ADDRESS.search(our_logs(caplog)), "an address reached the logs"
    assert all(row["sent_at"] is not None for row in mail.outbox())


def test_a_minor_policy_update_goes_only_to_people_who_opted_in_with_list_unsubscribe(mail: Mail) -> None:
    keen, quiet = _people(mail, 2)
    assert mail.client.put("/v1/me/preferences", headers=keen.headers, json={"marketing_emails": True}).is_success
    publish(mail.db, "Privacy v2: typo fixes.\n", kind="privacy", material=False)
    assert mail.run() == 1
    [item] = mail.server.received
    assert item.rcpt_tos == [keen.email]
    assert item.message["List-Unsubscribe"] == f"<{APP}/#/privacy>"
    text, _ = _parts(item.message)
    assert "Stop them" in text
    dropped = [row for row in mail.outbox() if row["user_id"] == quiet.id]
    assert [(row["sent_at"], row["last_error"]) for row in dropped] == [(None, "not_opted_in")]
    assert dropped[0]["failed_at"] is not None


def test_a_transient_failure_is_retried_after_a_delay_and_delivered_once(mail: Mail) -> None:
    [ada] = _people(mail, 1)
    publish(mail.db, "Privacy v2.\n", kind="privacy", material=True)
    mail.server.fail_rcpt("451 4.3.0 Mailbox busy, try again later")
    now = datetime.now(UTC)
    assert mail.run(now) == 0
    [row] = mail.outbox()
    assert (row["attempts"], row["last_error"], row["sent_at"], row["failed_at"]) == (1, "smtp_451", None, None)
    assert row["next_attempt_at"] == now + timedelta(minutes=1)
    assert mail.run(now + timedelta(seconds=30)) == 0  # not due yet
    assert mail.run(now + timedelta(minutes=2)) == 1
    assert mail.run(now + timedelta(hours=1)) == 0
    assert _to(mail.server.received) == [ada.email]
    assert mail.outbox()[0]["attempts"] == 2


def test_a_permanent_failure_is_recorded_and_never_retried(mail: Mail) -> None:
    _people(mail, 1)
    publish(mail.db, "Privacy v2.\n", kind="privacy", material=True)
    mail.server.fail_rcpt("550 5.1.1 No such user here")
    now = datetime.now(UTC)
    assert mail.run(now) == 0
    for later in (timedelta(minutes=5), timedelta(days=2)):
        assert mail.run(now + later) == 0
    [row] = mail.outbox()
    assert (row["attempts"], row["last_error"], row["sent_at"]) == (1, "smtp_550", None)
    assert row["failed_at"] == now
    assert mail.server.received == []


def test_transient_failures_stop_after_the_attempt_limit(tmp_path: Path, db: Database) -> None:
    with smtp_server(tmp_path) as server:
        settings = _settings(tmp_path, server, email_max_attempts=2)
        with TestClient(create_app(settings, db)) as client:
            mail = Mail(client, db, settings, server)
            _people(mail, 1)
            publish(db, "Privacy v2.\n", kind="privacy", material=True)
            server.fail_rcpt("421 4.7.0 Try later", "452 4.2.2 Mailbox full", "250 would have worked")
            now = datetime.now(UTC)
            assert mail.run(now) == 0
            assert mail.run(now + timedelta(minutes=2)) == 0
            assert mail.run(now + timedelta(days=3)) == 0
    [row] = mail.outbox()
    assert row["attempts"] == 2
    assert row["failed_at"] is not None
    assert row["last_error"].startswith("smtp_452; gave up after 2 attempts")
    assert server.received == []


def test_two_concurrent_runs_deliver_each_row_once(mail: Mail) -> None:
    people = _people(mail, 12)
    publish(mail.db, "Privacy v2.\n", kind="privacy", material=True)
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def run() -> None:
        sender = mail.sender()
        barrier.wait()
        counts.append(deliver(mail.db, sender, site=site_from(mail.settings), limit=5).sent)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while mail.run():
        pass
    assert sum(counts) <= 12
    assert _to(mail.server.received) == sorted(p.email for p in people)  # each exactly once
    assert all(row["attempts"] == 1 and row["sent_at"] for row in mail.outbox())


def test_one_task_run_drains_batch_after_batch(mail: Mail) -> None:
    people = _people(mail, 7)
    publish(mail.db, "Privacy v2.\n", kind="privacy", material=True)
    assert deliver_due(mail.db, mail.sender(), site=site_from(mail.settings), batch=3) == 7
    assert _to(mail.server.received) == sorted(p.email for p in people)


def test_the_address_is_read_at_send_time(mail: Mail) -> None:
    [ada] = _people(mail, 1)
    publish(mail.db, "Privacy v2.\n", kind="privacy", material=True)
    # She changed her address at the identity provider: her next request carries it, and the account follows.
    moved = bearer(hs256(user_id=ada.id, email="ada.new@example.com"))
    assert mail.client.get("/v1/me", headers=moved).json()["email"] == "ada.new@example.com"
    assert mail.run() == 1
    assert _to(mail.server.received) == ["ada.new@example.com"]


def test_export_ready_mail_carries_the_link_and_its_expiry(mail: Mail) -> None:
    [ada] = _people(mail, 1)
    created = mail.client.post("/v1/me/exports", headers=ada.headers)
    assert created.status_code == 202, created.text
    storage = mail.client.app.state.storage  # type: ignore[attr-defined]
    exports.build_exports(mail.db, storage, now=datetime.now(UTC), days=7)  # idempotent with the inline build
    assert mail.run() == 1
    [item] = mail.server.received
    assert item.rcpt_tos == [ada.email]
    assert item.message["Subject"] == f"{PRODUCT}: your data export is ready"
    assert not any(part.get_filename() for part in item.message.walk()), "the archive is never attached"
    text, html = _parts(item.message)
    found = re.search(rf"{re.escape(API)}(/v1/files/\S+)", text)
    assert found, text
    assert html.count(found.group(1).replace("&", "&amp;")) == 1
    with mail.db.transaction() as conn:
        row = conn.execute("select expires_at from exports").fetchone()
    assert row is not None
    assert f"{row['expires_at']:%Y-%m-%d %H:%M} UTC" in text
    download = mail.client.get(found.group(1))
    assert download.status_code == 200
    assert download.content[:2] == b"PK"


def test_deletion_requested_and_canceled_mails(mail: Mail) -> None:
    [ada] = _people(mail, 1)
    assert mail.client.delete("/v1/me", headers=ada.headers).status_code == 202
    assert mail.client.post("/v1/me/deletion/cancel", headers=ada.headers).json() == {"cancelled": True}
    assert mail.run() == 2
    requested, canceled = mail.server.received
    when = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")
    assert requested.message["Subject"] == f"{PRODUCT}: your account will be deleted on {when}"
    text, _ = _parts(requested.message)
    assert f"{APP}/#/privacy" in text
    assert "Cancel" in text
    assert canceled.message["Subject"] == f"{PRODUCT}: your account will not be deleted"
    assert requested.rcpt_tos == canceled.rcpt_tos == [ada.email]


def test_erasure_sends_the_completed_mail_first_and_never_the_queued_ones(
    mail: Mail, caplog: pytest.LogCaptureFixture
) -> None:
    [ada] = _people(mail, 1)
    publish(mail.db, "Privacy v2.\n", kind="privacy", material=True)  # queued, not yet sent
    assert mail.client.delete("/v1/me", headers=ada.headers).status_code == 202  # queues "requested" too
    with loopback_server({("DELETE", f"/auth/v1/admin/users/{ada.id}"): lambda _: Reply(200, {})}) as auth:
        settings = mail.settings.model_copy(update={"supabase_url": auth.url, "supabase_secret_key": "k" * 40})
        processors = Processors(
            storage=mail.client.app.state.storage,  # type: ignore[attr-defined]
            auth=SupabaseAuthAdmin(settings),
            email=mail.sender(),
            site=site_from(settings),
        )
        with caplog.at_level(logging.DEBUG):
            assert run_erasures(mail.db, processors, now=datetime.now(UTC) + timedelta(days=8)) == 1
    [farewell] = mail.server.received
    assert farewell.rcpt_tos == [ada.email]
    assert farewell.message["Subject"] == f"{PRODUCT}: your account has been deleted"
    assert mail.outbox() == []  # the queued mails went with the account
    assert mail.run() == 0
    assert len(mail.server.received) == 1
    assert not ADDRESS.search(our_logs(caplog))


def test_implicit_tls_delivers_too(tmp_path: Path, db: Database) -> None:
    with smtp_server(tmp_path, implicit_tls=True) as server:
        settings = _settings(tmp_path, server)
        assert str(settings.smtp_url).startswith("smtps://")
        with TestClient(create_app(settings, db)) as client:
            mail = Mail(client, db, settings, server)
            [ada] = _people(mail, 1)
            publish(db, "Privacy v2.\n", kind="privacy", material=True)
            assert mail.run() == 1
    assert _to(server.received) == [ada.email]


def test_an_unreachable_or_misconfigured_server_fails_the_run_and_keeps_the_mail(mail: Mail) -> None:
    _people(mail, 3)
    publish(mail.db, "Privacy v2.\n", kind="privacy", material=True)
    wrong = mail.settings.smtp_url.replace("p%40ss", "wrong") if mail.settings.smtp_url else ""
    refused = mail.settings.model_copy(update={"smtp_url": wrong})
    with pytest.raises(SenderUnavailable) as failure:
        run_deliver_email(mail.db, datetime.now(UTC), refused)
    assert failure.value.code == "login_refused_535"
    rows = mail.outbox()
    assert sorted(row["attempts"] for row in rows) == [0, 0, 1]  # only the mail that met the refusal counts it
    assert all(row["failed_at"] is None and row["sent_at"] is None for row in rows)
    assert mail.run(datetime.now(UTC) + timedelta(minutes=2)) == 3


@pytest.mark.slow
def test_deploy_task_deliver_email_sends_by_hand(mail: Mail, database_url: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    [ada] = _people(mail, 1)
    publish(mail.db, "Privacy v2.\n", kind="privacy", material=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ATELIER_DATA_DIR": str(tmp_path / "cli"),
        "ATELIER_EMAIL_SENDER": "smtp",
        "ATELIER_SMTP_URL": mail.server.url,
        "ATELIER_SMTP_CA_FILE": str(mail.server.ca_file),
        "ATELIER_EMAIL_FROM": "Atelier <hello@atelier.test>",
    }
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "deploy.py", "task", "deliver-email"], cwd=root, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "deliver-email: succeeded, 1 item(s)" in done.stdout
    assert ada.email not in done.stdout + done.stderr
    assert _to(mail.server.received) == [ada.email]


def test_a_server_that_never_answers_times_out_and_the_mail_waits_for_a_retry(mail: Mail) -> None:
    import socket

    _people(mail, 1)
    publish(mail.db, "Privacy v2.\n", kind="privacy", material=True)
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        stalled = mail.settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}", "smtp_timeout_seconds": 0.5})
        now = datetime.now(UTC)
        with pytest.raises(SenderUnavailable) as failure:
            run_deliver_email(mail.db, now, stalled)
    assert failure.value.code == "timeout"
    [row] = mail.outbox()
    assert (row["attempts"], row["last_error"], row["failed_at"]) == (1, "timeout", None)
    assert row["next_attempt_at"] == now + timedelta(minutes=1)
    assert mail.run(now + timedelta(minutes=2)) == 1
