"""POST /v1/contact: an anonymous ticket keeping the address only to answer, its acknowledgement (read back from
a real SMTP server), the rights register for topic `privacy`, refusals that write nothing, the per-address
limit, and the ticket exported and erased with an account only when the address is proven."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from functions.tasks import run_deliver_email
from shared.accounts.auth_admin import SupabaseAuthAdmin
from shared.kit.db import Database
from shared.privacy import exports
from shared.privacy.erasure import Processors, run_erasures
from shared.support.reference import short_reference
from tests.support.loopback import Reply, loopback_server
from tests.support.people import onboard, person
from tests.support.smtp import SmtpServer, smtp_server
from tests.support.tokens import HS256_SECRET

VISITOR = "visitor.one@example.com"


@dataclass
class Contact:
    client: TestClient
    db: Database
    settings: Settings
    server: SmtpServer

    def send(self, **body: Any) -> Any:
        payload = {"email": VISITOR, "topic": "general", "message": "Can I use the images commercially?", **body}
        return self.client.post("/v1/contact", json=payload)

    def count(self, table: str) -> int:
        with self.db.transaction() as conn:
            row = conn.execute(f"select count(*) as n from {table}").fetchone()
        return int(row["n"]) if row else 0


def _settings(tmp_path: Path, server: SmtpServer, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        supabase_jwt_secret=HS256_SECRET,
        email_sender="smtp",
        smtp_url=server.url,
        smtp_ca_file=server.ca_file,
        email_from="Atelier <hello@atelier.test>",
        public_url="https://api.atelier.test",
        **extra,
    )


@pytest.fixture
def contact(tmp_path: Path, db: Database) -> Iterator[Contact]:
    with smtp_server(tmp_path) as server:
        settings = _settings(tmp_path, server)
        with TestClient(create_app(settings, db)) as client:
            yield Contact(client, db, settings, server)


def test_a_visitor_writes_and_gets_an_acknowledgement(contact: Contact, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="atelier"):
        response = contact.send(name="Vera Visitor")
        assert response.status_code == 202, response.text
        assert run_deliver_email(contact.db, datetime.now(UTC), contact.settings) == 1
    body = response.json()
    assert body["status"] == "received"
    assert body["topic"] == "general"
    # A reference a person can quote: 8 letters and digits, derived from the ticket's id (not a raw UUID).
    assert re.fullmatch(r"[A-Z2-7]{8}", body["reference"]), body["reference"]
    assert body["reference"] == short_reference(uuid.UUID(body["id"]))
    with contact.db.transaction() as conn:
        ticket = conn.execute("select * from support_tickets").fetchone()
        messages = conn.execute("select author, body, user_id from support_messages").fetchall()
        requests = conn.execute("select count(*) as n from privacy_requests").fetchone()
    assert ticket is not None
    assert str(ticket["id"]) == body["id"]
    assert (ticket["user_id"], ticket["source"], ticket["status"]) == (None, "contact", "open")
    assert (ticket["contact_email"], ticket["contact_name"]) == (VISITOR, "Vera Visitor")
    assert messages == [{"author": "user", "body": "Can I use the images commercially?", "user_id": None}]
    assert requests == {"n": 0}
    [ack] = contact.server.received
    assert ack.rcpt_tos == [VISITOR]
    assert ack.message["Subject"] == "Atelier: we received your message"
    assert ack.message["List-Unsubscribe"] is None
    text = ack.message.get_body(preferencelist=("plain",))
    assert text is not None
    assert f"Your reference: {body['reference']}" in str(text.get_content())
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name.startswith("atelier"))
    assert VISITOR not in logged
    assert "commercially" not in logged


def test_a_privacy_message_enters_the_rights_register(contact: Contact) -> None:
    response = contact.send(topic="privacy", message="Please delete everything you hold about me.")
    assert response.status_code == 202, response.text
    ticket_id = response.json()["id"]
    with contact.db.transaction() as conn:
        request = conn.execute(
            "select kind, source, status, user_id, reference, received_at, due_at from privacy_requests"
        ).fetchone()
        audit = conn.execute("select details from audit_log where action = 'privacy_request.opened'").fetchone()
    assert request is not None
    assert (request["kind"], request["source"], request["status"], request["user_id"]) == (
        "other",
        "contact",
        "open",
        None,
    )
    assert request["reference"] == f"support-ticket:{ticket_id}"
    received = request["received_at"].astimezone(UTC)
    due = request["due_at"].astimezone(UTC)
    assert (due.year * 12 + due.month) - (received.year * 12 + received.month) == 1  # one calendar month
    assert audit is not None
    assert VISITOR not in json.dumps(audit["details"])
    assert run_deliver_email(contact.db, datetime.now(UTC), contact.settings) == 1
    text = contact.server.received[0].message.get_body(preferencelist=("plain",))
    assert text is not None
    assert "within one month" in str(text.get_content())


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "not-an-address"}, "invalid_contact_email"),
        ({"email": "two@example.com, three@example.com"}, "invalid_contact_email"),
        ({"email": "a@example.com\r\nBcc: b@example.com"}, "invalid_contact_email"),
        ({"email": "x" * 250 + "@example.com"}, "invalid_contact_email"),
        ({"name": "Eve\r\nBcc: b@example.com"}, "invalid_contact_name"),
        ({"name": "   "}, "invalid_contact_name"),
        ({"message": "   "}, "invalid_support_text"),
        ({"message": "x" * 10_001}, "invalid_support_text"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(contact: Contact, body: dict[str, str], code: str) -> None:
    response = contact.send(**body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert (contact.count("support_tickets"), contact.count("email_outbox")) == (0, 0)


def test_unknown_topics_and_fields_are_refused(contact: Contact) -> None:
    assert contact.send(topic="sales").status_code == 422
    assert contact.send(user_id="00000000-0000-0000-0000-000000000000").status_code == 422
    assert contact.count("support_tickets") == 0


def test_the_form_is_limited_per_address(tmp_path: Path, db: Database) -> None:
    with smtp_server(tmp_path) as server:
        settings = _settings(tmp_path, server, rate_limit_overrides={"contact.ip": "3/3600"})
        with TestClient(create_app(settings, db)) as client:
            form = Contact(client, db, settings, server)
            assert [form.send().status_code for _ in range(3)] == [202, 202, 202]
            refused = form.send()
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert form.count("support_tickets") == 3


def test_signed_in_or_not_a_contact_ticket_is_never_listed_as_an_app_ticket(contact: Contact) -> None:
    ada = person("ada@example.com")
    onboard(contact.client, ada)
    response = contact.client.post(
        "/v1/contact", headers=ada.headers, json={"email": "ada@example.com", "topic": "account", "message": "Hi"}
    )
    assert response.status_code == 202, response.text
    listed = contact.client.get("/v1/support/tickets", headers=ada.headers).json()
    assert listed["items"] == []  # a contact ticket is answered by email, never shown to an account


def _archive(contact: Contact, headers: dict[str, str]) -> dict[str, Any]:
    assert contact.client.post("/v1/me/exports", headers=headers).status_code == 202
    storage = contact.client.app.state.storage  # type: ignore[attr-defined]
    exports.build_exports(contact.db, storage, now=datetime.now(UTC), days=7)
    with contact.db.transaction() as conn:
        row = conn.execute("select storage_key from exports where status = 'ready'").fetchone()
    assert row is not None
    with zipfile.ZipFile(io.BytesIO(storage.get(row["storage_key"]))) as zf:
        support: dict[str, Any] = json.loads(zf.read("data/support.json"))
    return support


def test_someone_elses_message_naming_my_address_is_not_in_my_export(contact: Contact) -> None:
    """Anyone may type any address into the form: a message is tied to an account only when the address is
    proven (sent signed in, with the account's own address), so words written in my name never reach my export."""
    ada, bob = person("ada@example.com"), person("bob@example.com")
    onboard(contact.client, ada)
    onboard(contact.client, bob)
    impostor = {"email": "ADA@example.com", "topic": "privacy", "message": "bob writes as ada"}
    assert contact.client.post("/v1/contact", json=impostor).status_code == 202
    assert contact.client.post("/v1/contact", json=impostor, headers=bob.headers).status_code == 202

    support = _archive(contact, ada.headers)
    assert support["tables"]["support_tickets"]["rows"] == []
    assert support["tables"]["support_messages"]["rows"] == []
    with contact.db.transaction() as conn:
        linked = conn.execute("select count(*) as n from support_tickets where contact_user_id is not null").fetchone()
    assert linked == {"n": 0}


def test_a_signed_in_message_from_the_accounts_own_address_is_exported_and_erased_with_it(contact: Contact) -> None:
    ada = person("ada@example.com")
    onboard(contact.client, ada)
    mine = {"email": "ADA@example.com", "topic": "privacy", "message": "ada writes signed in"}
    assert contact.client.post("/v1/contact", json=mine, headers=ada.headers).status_code == 202
    assert contact.send(email="ada@example.com", message="someone writes as ada").status_code == 202
    assert contact.send(email=VISITOR, message="someone else writes").status_code == 202

    support = _archive(contact, ada.headers)
    tickets = support["tables"]["support_tickets"]["rows"]
    messages = support["tables"]["support_messages"]["rows"]
    assert [(t["source"], t["contact_email"]) for t in tickets] == [("contact", "ADA@example.com")]
    assert [m["body"] for m in messages] == ["ada writes signed in"]

    assert contact.client.delete("/v1/me", headers=ada.headers).status_code == 202
    with loopback_server({("DELETE", f"/auth/v1/admin/users/{ada.id}"): lambda _: Reply(200, {})}) as auth:
        settings = contact.settings.model_copy(update={"supabase_url": auth.url, "supabase_secret_key": "k" * 40})
        storage = contact.client.app.state.storage  # type: ignore[attr-defined]
        processors = Processors(storage=storage, auth=SupabaseAuthAdmin(settings))
        assert run_erasures(contact.db, processors, now=datetime.now(UTC) + timedelta(days=8)) == 1
    with contact.db.transaction() as conn:
        left = conn.execute("select contact_email from support_tickets").fetchall()
        bodies = conn.execute("select body from support_messages").fetchall()
        outbox = conn.execute("select count(*) as n from email_outbox where ticket_id is not null").fetchone()
    # the unproven message naming her address goes too: deleting it discloses nothing to anyone
    assert left == [{"contact_email": VISITOR}]
    assert bodies == [{"body": "someone else writes"}]
    assert outbox == {"n": 1}  # only the other visitor's acknowledgement is still queued
    assert not re.search("ada", json.dumps([left, bodies]), re.IGNORECASE)


def test_one_address_gets_at_most_three_acknowledgements_a_day(tmp_path: Path, db: Database) -> None:
    with smtp_server(tmp_path) as server:
        settings = _settings(tmp_path, server, rate_limit_overrides={"contact.ip": "100/3600"})
        with TestClient(create_app(settings, db)) as client:
            form = Contact(client, db, settings, server)
            assert [form.send(email=f"{case}@example.com").status_code for case in ("victim", "VICTIM")] == [202] * 2
            assert [form.send(email="victim@example.com").status_code for _ in range(3)] == [202] * 3
            assert form.send(email="other@example.com").status_code == 202
            assert run_deliver_email(db, datetime.now(UTC), settings) == 4
    assert form.count("support_tickets") == 6  # every message is kept
    assert sorted(r.rcpt_tos[0].lower() for r in server.received) == ["other@example.com"] + ["victim@example.com"] * 3
