"""Rules for policy versions: shipped version 1, publishing, acceptance, the 428 gate and change notices."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from uuid import UUID

from config.policies import KINDS, PolicyKind, shipped_text
from config.values import value
from shared.kit.db.database import Connection, Database
from shared.kit.errors import PolicyAcceptanceRequired, PolicyVersionNotCurrent, UnknownPolicyVersion
from shared.policies import repo
from shared.policies.models import Acceptance, PolicyVersion

_PUBLISH_LOCK = 7_351_005  # advisory-lock key: one publisher per kind at a time


@value
class GateExempt:
    """A route the acceptance gate lets through: `path` exactly or anything under `path/`."""

    path: str
    method: str | None = None  # None: every method
    prefix: bool = True


# The one list of authenticated routes that still answer while a material change awaits acceptance:
# reading policies and the account, accepting, notices, consent, onboarding and every privacy right.
GATE_EXEMPT: tuple[GateExempt, ...] = (
    GateExempt("/v1/policies"),
    GateExempt("/v1/me", method="GET", prefix=False),
    GateExempt("/v1/me", method="PATCH", prefix=False),  # rectification is a right
    GateExempt("/v1/me", method="DELETE", prefix=False),
    GateExempt("/v1/me/policy-acceptances"),
    GateExempt("/v1/me/onboarding"),
    GateExempt("/v1/me/notifications"),
    GateExempt("/v1/consents"),
    GateExempt("/v1/me/exports"),
    GateExempt("/v1/me/deletion"),
    GateExempt("/v1/me/restriction"),
    GateExempt("/v1/me/preferences"),
    GateExempt("/v1/me/data"),
    GateExempt("/v1/me/requests"),
    GateExempt("/v1/support"),  # a question or an objection about the new text must reach us before accepting it
)


def is_gate_exempt(method: str, path: str) -> bool:
    path = path.rstrip("/") or "/"
    for item in GATE_EXEMPT:
        if item.method is not None and item.method != method.upper():
            continue
        if path == item.path or (item.prefix and path.startswith(item.path + "/")):
            return True
    return False


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ensure_shipped(conn: Connection) -> None:
    """Version 1 of each kind from the texts in config/, inserted once (concurrent callers are safe)."""
    for kind in KINDS:
        if repo.count(conn, kind) == 0:
            text = shipped_text(kind)
            repo.insert(
                conn,
                kind=kind,
                version=1,
                effective_at=datetime(2026, 1, 1, tzinfo=UTC),
                sha256=text_sha256(text),
                material=False,
                text=text,
            )


def current(conn: Connection, kind: PolicyKind, *, now: datetime | None = None) -> PolicyVersion:
    """The version of `kind` in force now."""
    ensure_shipped(conn)
    found = repo.latest(conn, kind, effective_by=now or datetime.now(UTC))
    if found is None:  # only when every version is scheduled in the future
        found = repo.get(conn, kind, 1)
    if found is None:
        raise RuntimeError(f"no {kind} policy version")
    return found


def get_version(conn: Connection, kind: PolicyKind, version: int) -> PolicyVersion:
    ensure_shipped(conn)
    found = repo.get(conn, kind, version)
    if found is None:
        raise UnknownPolicyVersion(f"There is no version {version} of the {kind} policy.")
    return found


def accept(conn: Connection, user_id: UUID, kind: PolicyKind, version: int) -> Acceptance:
    """Record that the user accepted `version` of `kind`; only the version in force can be accepted."""
    policy = get_version(conn, kind, version)
    if policy.version != current(conn, kind).version:
        raise PolicyVersionNotCurrent(f"Version {version} of the {kind} policy is not the current one.")
    return repo.accept(conn, user_id, policy)


def accept_current(conn: Connection, user_id: UUID) -> list[Acceptance]:
    """Accept the versions in force of every kind (onboarding)."""
    return [repo.accept(conn, user_id, current(conn, kind)) for kind in KINDS]


def to_accept(conn: Connection, user_id: UUID, *, onboarded: bool, now: datetime | None = None) -> list[PolicyVersion]:
    """What the app must ask the user to accept: every kind in force before onboarding, afterwards the material
    versions the 428 gate waits for (a page can show them before a request is refused)."""
    if not onboarded:
        return [current(conn, kind, now=now) for kind in KINDS]
    return sorted(repo.pending_material(conn, user_id, now or datetime.now(UTC)), key=lambda p: p.kind)


def check_gate(conn: Connection, user_id: UUID, method: str, path: str, *, now: datetime | None = None) -> None:
    """Raise 428 when a material version the user has not accepted is in force, unless the route is exempt."""
    if is_gate_exempt(method, path):
        return
    pending = repo.pending_material(conn, user_id, now or datetime.now(UTC))
    if pending:
        ordered = sorted(pending, key=lambda p: p.kind)
        calls = "; ".join(f'{{"kind": "{p.kind}", "version": {p.version}}}' for p in ordered)
        raise PolicyAcceptanceRequired(
            f"Accept the updated policy first: POST /v1/me/policy-acceptances with {calls}.",
            details={
                "call": "POST /v1/me/policy-acceptances",
                "accept": [{"kind": p.kind, "version": p.version} for p in ordered],
            },
        )


MAX_SUMMARY = 2000


def add_version(
    db: Database,
    text: str,
    *,
    kind: PolicyKind,
    material: bool,
    effective_at: datetime | None = None,
    summary: str | None = None,
) -> tuple[PolicyVersion, bool]:
    """Store a new version of `kind` unless the latest one has this very text; returns (version, created).

    One publisher per kind at a time (an advisory lock), so the version number is ours. Telling every account
    about it is the notify package's part (shared/notify/policy_update.py)."""
    if not text.strip():
        raise ValueError("a policy text cannot be empty")
    summary = (summary or "").strip() or None
    if summary is not None and len(summary) > MAX_SUMMARY:
        raise ValueError(f"a summary is at most {MAX_SUMMARY} characters")
    sha = text_sha256(text)
    with db.transaction() as conn:
        conn.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", (_PUBLISH_LOCK, kind))
        ensure_shipped(conn)
        latest = repo.latest(conn, kind)
        created = latest is None or latest.text_sha256 != sha
        if created:
            policy = repo.insert(
                conn,
                kind=kind,
                version=(latest.version + 1) if latest else 1,
                effective_at=effective_at or datetime.now(UTC),
                sha256=sha,
                material=material,
                text=text,
                summary=summary,
            )
        else:
            policy = latest
    if policy is None:  # the advisory lock makes the version number ours
        raise RuntimeError("policy version insert lost a race")
    return policy, created
