"""The register of rights requests: each one is a row with its received time and its answer deadline.

The law gives one calendar month to answer, extendable once (by two further months) with a reason.
Requests made through the API are opened and completed by the code that keeps them; requests that
reach an operator by email are logged with `python deploy.py privacy log-request`. The register names
the person by the audit pseudonym as well as by account id, so it outlives erasure (the id goes null).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID

from config.values import value
from shared import audit
from shared.accounts import repo as accounts
from shared.kit.db.database import Connection, Database
from shared.kit.errors import Conflict, NotFound, Unprocessable

RequestKind = Literal["export", "erasure", "restriction", "objection", "rectification", "access", "other"]
RequestSource = Literal["api", "operator", "contact"]
RequestStatus = Literal["open", "completed", "refused", "withdrawn"]
KINDS: tuple[str, ...] = get_args(RequestKind)
STATUSES: tuple[str, ...] = get_args(RequestStatus)

# Where the answer deadline comes from (computed in SQL, in UTC, so month ends behave: 31 Jan -> 28/29 Feb).
ANSWER_WITHIN = "1 month"
EXTENDED_TO = "3 months"  # counted from receipt: the month plus the two further months the law allows


class RequestAlreadyExtended(Conflict):
    """A request's deadline can be extended only once."""

    code = "request_already_extended"


class RequestClosed(Conflict):
    """This request is already closed."""

    code = "request_closed"


@value
class PrivacyRequest:
    id: UUID
    user_id: UUID | None
    subject_ref: str
    kind: str
    source: str
    status: str
    received_at: datetime
    due_at: datetime
    extended_at: datetime | None
    extension_reason: str | None
    reference: str | None
    completed_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return self.status == "open" and self.due_at < now


_COLUMNS = (
    "id, user_id, subject_ref, kind, source, status, received_at, due_at, extended_at, extension_reason,"
    " reference, completed_at"
)


def _request(row: dict[str, Any]) -> PrivacyRequest:
    return PrivacyRequest(**{name.strip(): row[name.strip()] for name in _COLUMNS.split(",")})


def _actor(source: str) -> str:
    return "operator" if source == "operator" else "user"


def open_request(
    conn: Connection,
    user_id: UUID,
    kind: RequestKind,
    *,
    now: datetime,
    source: RequestSource = "api",
    reference: str | None = None,
) -> PrivacyRequest:
    """Register a request received at `now`; due one calendar month later. Audited by kind and source."""
    if kind not in KINDS:
        raise Unprocessable(f"Unknown request kind {kind!r}.")
    if source not in ("api", "operator"):
        raise ValueError(f"unknown request source: {source}")
    row = conn.execute(
        f"""insert into privacy_requests (user_id, subject_ref, kind, source, received_at, due_at, reference)
            select %(uid)s, encode(sha256(convert_to(k.key || ':' || %(uid)s::text, 'UTF8')), 'hex'),
                   %(kind)s, %(source)s, %(now)s,
                   ((%(now)s::timestamptz at time zone 'UTC') + interval '{ANSWER_WITHIN}') at time zone 'UTC',
                   %(reference)s
              from audit_pseudonym_key k
            returning {_COLUMNS}""",
        {"uid": user_id, "kind": kind, "source": source, "now": now, "reference": reference},
    ).fetchone()
    if row is None:
        raise RuntimeError("the audit pseudonym key is missing; run the migrations")
    request = _request(row)
    audit.record(
        conn,
        actor=_actor(source),
        action="privacy_request.opened",
        subject_id=user_id,
        details={"request_id": str(request.id), "kind": kind, "source": source},
    )
    return request


def open_contact_request(conn: Connection, ticket_id: UUID, *, now: datetime) -> PrivacyRequest:
    """Register a privacy request sent through the contact form by someone who may have no account: it is
    known by the ticket (`reference`) and by a pseudonym of the ticket id; due one calendar month later."""
    ref = audit.subject_ref(conn, ticket_id)
    row = conn.execute(
        f"""insert into privacy_requests (user_id, subject_ref, kind, source, received_at, due_at, reference)
            values (null, %(ref)s, 'other', 'contact', %(now)s,
                    ((%(now)s::timestamptz at time zone 'UTC') + interval '{ANSWER_WITHIN}') at time zone 'UTC',
                    %(reference)s)
            returning {_COLUMNS}""",
        {"ref": ref, "now": now, "reference": f"support-ticket:{ticket_id}"},
    ).fetchone()
    if row is None:  # pragma: no cover - insert ... returning always yields the row
        raise RuntimeError("insert returned nothing")
    request = _request(row)
    audit.record_for_ref(
        conn,
        actor="user",
        action="privacy_request.opened",
        ref=ref,
        details={"request_id": str(request.id), "kind": request.kind, "source": "contact"},
    )
    return request


def get_request(conn: Connection, request_id: UUID) -> PrivacyRequest:
    row = conn.execute(f"select {_COLUMNS} from privacy_requests where id = %s", (request_id,)).fetchone()
    if row is None:
        raise NotFound("No such privacy request.")
    return _request(row)


def latest_open(conn: Connection, user_id: UUID, kind: RequestKind) -> PrivacyRequest | None:
    """The user's most recent open request of this kind, if any (to complete it when the right is kept)."""
    row = conn.execute(
        f"""select {_COLUMNS} from privacy_requests
            where user_id = %s and kind = %s and status = 'open'
            order by received_at desc, id desc limit 1""",
        (user_id, kind),
    ).fetchone()
    return _request(row) if row else None


def _close(conn: Connection, request_id: UUID, status: RequestStatus, *, now: datetime, actor: str) -> PrivacyRequest:
    row = conn.execute(
        f"""update privacy_requests set status = %s, completed_at = %s
            where id = %s and status = 'open' returning {_COLUMNS}""",
        (status, now, request_id),
    ).fetchone()
    if row is None:
        get_request(conn, request_id)  # 404 when it does not exist
        raise RequestClosed()
    request = _request(row)
    audit.record_for_ref(
        conn,
        actor=actor,
        action=f"privacy_request.{status}",
        ref=request.subject_ref,
        details={"request_id": str(request.id), "kind": request.kind, "late": request.due_at < now},
    )
    return request


def complete_request(conn: Connection, request_id: UUID, *, now: datetime, actor: str = "system") -> PrivacyRequest:
    """Mark a request answered at `now` (refused: 409 when it is already closed). Audited, late or not."""
    return _close(conn, request_id, "completed", now=now, actor=actor)


def refuse_request(conn: Connection, request_id: UUID, *, now: datetime, actor: str = "operator") -> PrivacyRequest:
    """Close a request without doing it (manifestly unfounded, identity not confirmed, ...)."""
    return _close(conn, request_id, "refused", now=now, actor=actor)


def withdraw_request(conn: Connection, request_id: UUID, *, now: datetime, actor: str = "user") -> PrivacyRequest:
    """The person withdrew it (an erasure cancelled within the grace period)."""
    return _close(conn, request_id, "withdrawn", now=now, actor=actor)


def extend_request(
    conn: Connection, request_id: UUID, *, reason: str, now: datetime, actor: str = "operator"
) -> PrivacyRequest:
    """Extend the deadline once, to three months after receipt, with a reason (no personal data in it)."""
    reason = reason.strip()
    if not 1 <= len(reason) <= 500:
        raise Unprocessable("An extension needs a reason of 1 to 500 characters.")
    row = conn.execute(
        f"""update privacy_requests
               set extended_at = %(now)s, extension_reason = %(reason)s,
                   due_at = ((received_at at time zone 'UTC') + interval '{EXTENDED_TO}') at time zone 'UTC'
             where id = %(id)s and status = 'open' and extended_at is null
            returning {_COLUMNS}""",
        {"id": request_id, "now": now, "reason": reason},
    ).fetchone()
    if row is None:
        current = get_request(conn, request_id)
        if current.status != "open":
            raise RequestClosed()
        raise RequestAlreadyExtended()
    request = _request(row)
    audit.record_for_ref(
        conn,
        actor=actor,
        action="privacy_request.extended",
        ref=request.subject_ref,
        details={"request_id": str(request.id), "kind": request.kind},
    )
    return request


def list_requests(
    conn: Connection,
    *,
    now: datetime,
    overdue: bool = False,
    status: RequestStatus | None = None,
    user_id: UUID | None = None,
    limit: int = 500,
) -> list[PrivacyRequest]:
    """Requests, soonest due first; `overdue` keeps only open ones past their deadline."""
    clauses = ["true"]
    params: dict[str, Any] = {"now": now, "limit": limit}
    if overdue:
        clauses.append("status = 'open' and due_at < %(now)s")
    if status is not None:
        clauses.append("status = %(status)s")
        params["status"] = status
    if user_id is not None:
        clauses.append("user_id = %(uid)s")
        params["uid"] = user_id
    rows = conn.execute(
        f"""select {_COLUMNS} from privacy_requests where {" and ".join(clauses)}
            order by due_at, id limit %(limit)s""",
        params,
    ).fetchall()
    return [_request(row) for row in rows]


def notify_overdue(
    db: Database, send: Callable[[list[PrivacyRequest]], None], *, now: datetime, limit: int = 200
) -> int:
    """Tell the operators, once per request, about open requests past their deadline; returns how many.

    Claimed and marked in one short transaction (SKIP LOCKED: two runs never report one request twice),
    then `send` is called outside it with ids, kinds and dates only; if it raises, the marks are undone."""
    with db.transaction() as conn:
        rows = conn.execute(
            f"""update privacy_requests set overdue_notified_at = %(now)s
                where id in (select id from privacy_requests
                              where status = 'open' and due_at < %(now)s and overdue_notified_at is null
                              order by due_at, id limit %(limit)s for update skip locked)
                returning {_COLUMNS}""",
            {"now": now, "limit": limit},
        ).fetchall()
    overdue = sorted((_request(row) for row in rows), key=lambda r: (r.due_at, r.id))
    if not overdue:
        return 0
    try:
        send(overdue)
    except Exception:
        with db.transaction() as conn:
            conn.execute(
                "update privacy_requests set overdue_notified_at = null where id = any(%s)", ([r.id for r in overdue],)
            )
        raise
    return len(overdue)


def overdue_email(overdue: list[PrivacyRequest], now: datetime) -> tuple[str, str]:
    """Subject and body of the operators' reminder: request ids, kinds and deadlines, no personal data."""
    lines = [f"- {r.id} {r.kind} (received {r.received_at:%Y-%m-%d}, due {r.due_at:%Y-%m-%d})" for r in overdue]
    subject = f"{len(overdue)} privacy request(s) past their deadline"
    body = "\n".join(
        [
            f"As of {now:%Y-%m-%d %H:%M} UTC these rights requests are overdue:",
            *lines,
            "",
            "List them with: python deploy.py privacy requests --overdue",
        ]
    )
    return subject, body


class NoSuchAccount(NotFound):
    """No single account has this email address."""

    code = "no_such_account"


def log_operator_request(
    conn: Connection, *, email: str, kind: RequestKind, received_at: datetime, reference: str | None
) -> PrivacyRequest:
    """Register a request an operator received by email: the account is found by its address, which is not
    stored (the register holds the account id and its pseudonym). Due one month after `received_at`."""
    found = accounts.find_by_email(conn, email)
    if len(found) != 1:
        raise NoSuchAccount()
    return open_request(conn, found[0].id, kind, now=received_at, source="operator", reference=reference)
