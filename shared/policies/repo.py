"""SQL for policy versions and acceptances."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from shared.kit.db.database import Connection
from shared.policies.models import Acceptance, PolicyVersion

_COLUMNS = "id, kind, version, effective_at, text_sha256, material, text, summary"


def _policy(row: dict[str, Any]) -> PolicyVersion:
    return PolicyVersion(**{key: row[key] for key in _COLUMNS.split(", ")})


def _acceptance(row: dict[str, Any]) -> Acceptance:
    return Acceptance(
        id=row["id"],
        kind=row["kind"],
        version=row["version"],
        policy_version_id=row["policy_version_id"],
        accepted_at=row["accepted_at"],
    )


def count(conn: Connection, kind: str) -> int:
    row = conn.execute("select count(*) as n from policy_versions where kind = %s", (kind,)).fetchone()
    return int(row["n"]) if row else 0


def insert(
    conn: Connection,
    *,
    kind: str,
    version: int,
    effective_at: datetime,
    sha256: str,
    material: bool,
    text: str,
    summary: str | None = None,
) -> PolicyVersion | None:
    row = conn.execute(
        f"""insert into policy_versions (kind, version, effective_at, text_sha256, material, text, summary)
            values (%s, %s, %s, %s, %s, %s, %s) on conflict (kind, version) do nothing returning {_COLUMNS}""",
        (kind, version, effective_at, sha256, material, text, summary),
    ).fetchone()
    return _policy(row) if row else None


def latest(conn: Connection, kind: str, *, effective_by: datetime | None = None) -> PolicyVersion | None:
    row = conn.execute(
        f"""select {_COLUMNS} from policy_versions
            where kind = %s and (%s::timestamptz is null or effective_at <= %s)
            order by version desc limit 1""",
        (kind, effective_by, effective_by),
    ).fetchone()
    return _policy(row) if row else None


def get(conn: Connection, kind: str, version: int) -> PolicyVersion | None:
    row = conn.execute(
        f"select {_COLUMNS} from policy_versions where kind = %s and version = %s", (kind, version)
    ).fetchone()
    return _policy(row) if row else None


def accept(conn: Connection, user_id: UUID, policy: PolicyVersion) -> Acceptance:
    row = conn.execute(
        """insert into policy_acceptances (user_id, policy_version_id, kind, version)
           values (%s, %s, %s, %s) on conflict (user_id, policy_version_id) do nothing
           returning id, kind, version, policy_version_id, accepted_at""",
        (user_id, policy.id, policy.kind, policy.version),
    ).fetchone()
    if row is None:
        row = conn.execute(
            """select id, kind, version, policy_version_id, accepted_at from policy_acceptances
               where user_id = %s and policy_version_id = %s""",
            (user_id, policy.id),
        ).fetchone()
    if row is None:  # the conflict above proves the row exists
        raise RuntimeError("acceptance vanished")
    return _acceptance(row)


def acceptances(conn: Connection, user_id: UUID) -> list[Acceptance]:
    """Every version the user accepted, newest first (the privacy center lists them with their dates)."""
    rows = conn.execute(
        """select id, kind, version, policy_version_id, accepted_at from policy_acceptances
           where user_id = %s order by accepted_at desc, kind, version desc""",
        (user_id,),
    ).fetchall()
    return [_acceptance(row) for row in rows]


def pending_material_sql(user: str) -> str:
    """The query behind `pending_material`, for the account `user` (an SQL expression: a parameter or a column of
    an enclosing query, which then asks `exists (...)`); the statement binds `%(now)s`."""
    return f"""with latest_material as (
                select distinct on (kind) {_COLUMNS} from policy_versions
                where material and effective_at <= %(now)s
                order by kind, version desc)
            select m.* from latest_material m
            where exists (select 1 from policy_acceptances pa where pa.user_id = {user} and pa.kind = m.kind)
              and not exists (select 1 from policy_acceptances pa
                              where pa.user_id = {user} and pa.kind = m.kind and pa.version >= m.version)"""


def pending_material(conn: Connection, user_id: UUID, now: datetime) -> list[PolicyVersion]:
    """Latest material, effective version of each kind the user accepted some version of but not this one."""
    rows = conn.execute(pending_material_sql("%(uid)s"), {"uid": user_id, "now": now}).fetchall()
    return [_policy(row) for row in rows]
