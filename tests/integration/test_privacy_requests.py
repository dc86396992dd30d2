"""The requests register: one calendar month to answer, one extension with a reason, overdue listing, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import audit
from shared.kit.db import Database
from shared.privacy import requests
from tests.support.accounts import make_account

JAN_31 = datetime(2027, 1, 31, 15, 30, tzinfo=UTC)


def test_due_one_calendar_month_after_receipt_month_ends_included(db: Database) -> None:
    ada = make_account(db, "ada@example.com")
    with db.transaction() as conn:
        end_of_january = requests.open_request(conn, ada, "export", now=JAN_31)
        mid_march = requests.open_request(conn, ada, "erasure", now=datetime(2027, 3, 15, 9, tzinfo=UTC))
    assert end_of_january.due_at == datetime(2027, 2, 28, 15, 30, tzinfo=UTC)
    assert mid_march.due_at == datetime(2027, 4, 15, 9, tzinfo=UTC)
    assert end_of_january.status == "open"
    assert end_of_january.source == "api"


def test_extend_once_with_a_reason_then_refused(db: Database) -> None:
    ada = make_account(db)
    with db.transaction() as conn:
        request = requests.open_request(conn, ada, "access", now=JAN_31, source="operator", reference="thread-42")
        with pytest.raises(Exception, match="reason"):
            requests.extend_request(conn, request.id, reason="  ", now=JAN_31)
    with db.transaction() as conn:
        extended = requests.extend_request(conn, request.id, reason="complex request", now=JAN_31 + timedelta(days=3))
    assert extended.due_at == datetime(2027, 4, 30, 15, 30, tzinfo=UTC)
    assert extended.extension_reason == "complex request"
    with db.transaction() as conn, pytest.raises(requests.RequestAlreadyExtended):
        requests.extend_request(conn, request.id, reason="again", now=JAN_31 + timedelta(days=4))


def test_overdue_lists_only_open_requests_past_their_deadline(db: Database) -> None:
    ada, bob = make_account(db), make_account(db)
    with db.transaction() as conn:
        late = requests.open_request(conn, ada, "export", now=JAN_31)
        answered = requests.open_request(conn, bob, "export", now=JAN_31)
        requests.complete_request(conn, answered.id, now=JAN_31 + timedelta(days=2))
        recent = requests.open_request(conn, bob, "objection", now=JAN_31 + timedelta(days=20))
    march = datetime(2027, 3, 2, tzinfo=UTC)
    with db.transaction() as conn:
        overdue = requests.list_requests(conn, now=march, overdue=True)
        everything = requests.list_requests(conn, now=march)
    assert [r.id for r in overdue] == [late.id]
    assert {r.id for r in everything} == {late.id, answered.id, recent.id}
    assert overdue[0].overdue(march)
    assert not recent.overdue(march)


def test_closing_twice_is_refused_and_everything_is_audited_by_pseudonym(db: Database) -> None:
    ada = make_account(db, "ada@example.com")
    with db.transaction() as conn:
        request = requests.open_request(conn, ada, "restriction", now=JAN_31)
        requests.complete_request(conn, request.id, now=JAN_31 + timedelta(days=40))
        with pytest.raises(requests.RequestClosed):
            requests.withdraw_request(conn, request.id, now=JAN_31 + timedelta(days=41))
    with db.transaction() as conn:
        ref = audit.subject_ref(conn, ada)
        rows = conn.execute("select action, subject_ref, details from audit_log order by at, action").fetchall()
    assert sorted(r["action"] for r in rows) == ["privacy_request.completed", "privacy_request.opened"]
    assert all(r["subject_ref"] == ref for r in rows)
    completed = next(r for r in rows if r["action"] == "privacy_request.completed")
    assert completed["details"] == {"request_id": str(request.id), "kind": "restriction", "late": True}
    assert str(ada) not in str(rows)
    assert "ada@example.com" not in str(rows)


def test_unknown_kind_is_refused(db: Database) -> None:
    ada = make_account(db)
    with db.transaction() as conn, pytest.raises(Exception, match="kind"):
        requests.open_request(conn, ada, "gossip", now=JAN_31)  # type: ignore[arg-type]


def test_overdue_requests_are_reported_once_with_ids_only(db: Database) -> None:
    ada = make_account(db, "ada@example.com")
    with db.transaction() as conn:
        late = requests.open_request(conn, ada, "export", now=JAN_31)
        requests.open_request(conn, ada, "objection", now=JAN_31 + timedelta(days=40))
    sent: list[list[requests.PrivacyRequest]] = []
    march = datetime(2027, 3, 5, tzinfo=UTC)

    def failing(batch: list[requests.PrivacyRequest]) -> None:
        raise OSError("mail server down")

    with pytest.raises(OSError, match="down"):
        requests.notify_overdue(db, failing, now=march)
    assert requests.notify_overdue(db, sent.append, now=march) == 1  # the failed attempt marked nothing
    assert requests.notify_overdue(db, sent.append, now=march + timedelta(days=1)) == 0  # once per request
    assert [[r.id for r in batch] for batch in sent] == [[late.id]]
    subject, body = requests.overdue_email(sent[0], march)
    assert str(late.id) in body
    assert "1 privacy request" in subject
    assert "ada@example.com" not in body
    assert str(ada) not in body


def test_an_operator_logs_an_emailed_request_without_storing_the_address(db: Database) -> None:
    ada = make_account(db, "Ada@Example.com")
    with db.transaction() as conn:
        logged = requests.log_operator_request(
            conn, email="ada@example.com", kind="access", received_at=JAN_31, reference="mail-7"
        )
        with pytest.raises(requests.NoSuchAccount):
            requests.log_operator_request(conn, email="nobody@example.com", kind="access", received_at=JAN_31,
                                          reference=None)  # fmt: skip
        stored = conn.execute("select * from privacy_requests").fetchone()
    assert logged.user_id == ada
    assert logged.source == "operator"
    assert "example.com" not in str(stored).lower()
