"""The audit log names nobody: a salted pseudonym for the subject, field names and amounts for details."""

from __future__ import annotations

import hashlib

import pytest

from shared import audit
from shared.kit.db import Database
from tests.support.accounts import make_account


def test_audit_rows_carry_a_pseudonym_and_no_personal_data(db: Database) -> None:
    # Letters outside a-f: a hex pseudonym or uuid can never contain the name by chance.
    user = make_account(db, "quill.ward@example.com")
    with db.transaction() as conn:
        audit_id = audit.record(
            conn, actor="operator", action="credits.grant", subject_id=user, details={"amount": 5, "kind": "x"}
        )
        ref = audit.subject_ref(conn, user)
        row = conn.execute("select * from audit_log where id = %s", (audit_id,)).fetchone()
    assert row is not None
    assert row["subject_ref"] == ref
    assert str(user) not in ref
    assert ref != hashlib.sha256(str(user).encode()).hexdigest()  # salted: not a bare hash of the id
    assert row["details"] == {"amount": 5, "kind": "x"}
    assert "quill" not in str(row)
    assert "example.com" not in str(row)


@pytest.mark.parametrize("value", ["ada@example.com", "contact: ada@example.com please", "x" * 201])
def test_audit_refuses_free_text_and_emails(db: Database, value: str) -> None:
    with pytest.raises(ValueError, match="audit detail"), db.transaction() as conn:
        audit.record(conn, actor="operator", action="credits.grant", subject_id=None, details={"note": value})
    with db.transaction() as conn:
        assert conn.execute("select count(*) as n from audit_log").fetchone() == {"n": 0}
