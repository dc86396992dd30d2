"""Operator actions on credits (`python deploy.py credits ...`), each audited."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared import audit
from shared.accounts import repo as accounts_repo
from shared.credits import service
from shared.credits.models import Grant
from shared.kit.db.database import Connection
from shared.kit.errors import BadRequest, NotFound

OPERATOR = "operator"


def grant_adjustment(
    conn: Connection,
    *,
    email: str,
    amount: int,
    reason: str,
    ref: str | None = None,
    expires_at: datetime | None = None,
) -> Grant:
    """Grant `amount` adjustment credits to the account with this email, and audit it.

    With `ref`, running it twice grants once; without, every call is a new adjustment.
    """
    if not reason or not reason.strip():
        raise BadRequest("An adjustment needs a reason.", code="reason_required")
    matches = accounts_repo.find_by_email(conn, email)
    if not matches:
        raise NotFound("No account has this email.", code="account_not_found")
    if len(matches) > 1:
        raise BadRequest("Several accounts share this email; grant by account id instead.", code="ambiguous_email")
    account = matches[0]
    source_ref = f"adjustment:{ref}" if ref else f"adjustment:{uuid.uuid4()}"
    existing = service.grant_by_source_ref(conn, source_ref)
    granted = service.grant(
        conn,
        user_id=account.id,
        amount=amount,
        kind="adjustment",
        source_ref=source_ref,
        expires_at=expires_at,
        reason=reason.strip(),
    )
    if existing is None:
        audit.record(
            conn,
            actor=OPERATOR,
            action="credits.grant",
            subject_id=account.id,
            details={
                "grant_id": str(granted.id),
                "kind": "adjustment",
                "amount": amount,
                "expires": expires_at is not None,
                "reason_given": True,
            },
        )
    return granted
