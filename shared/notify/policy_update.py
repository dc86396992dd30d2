"""Publishing a policy version and telling every account: one in-app notice and one email per account.

Publishing the text of the latest version again creates nothing new and resumes the fan-out, so a crashed or
concurrent run is harmless: notices and emails are unique per (policy version, user). The version itself is
stored by shared/policies (which knows nothing of notices); the notices and mails are this package's tables."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from config.policies import PolicyKind
from shared.kit.db.database import Database
from shared.policies.models import PolicyVersion, PublishResult
from shared.policies.service import add_version

DEFAULT_BATCH = 500


def publish(
    db: Database,
    text: str,
    *,
    kind: PolicyKind,
    material: bool,
    effective_at: datetime | None = None,
    batch_size: int = DEFAULT_BATCH,
    summary: str | None = None,
) -> PublishResult:
    """Publish a new version (`deploy.py policy publish`) and queue one in-app notice and one email per user; the
    `summary` of what changed is stored with the version and repeated in the notice."""
    policy, created = add_version(db, text, kind=kind, material=material, effective_at=effective_at, summary=summary)
    notices, emails = fan_out(db, policy, batch_size=batch_size)
    return PublishResult(policy=policy, created=created, notices_created=notices, emails_queued=emails)


_FAN_OUT = """
with batch as (
    select id from accounts where id > %(after)s order by id limit %(limit)s
), notices as (
    insert into notifications (user_id, kind, policy_version_id, title, body)
    select id, 'policy_update', %(policy)s, %(title)s, %(body)s from batch
    on conflict (user_id, policy_version_id) do nothing returning 1
), emails as (
    insert into email_outbox (user_id, template, policy_version_id)
    select id, 'policy_update', %(policy)s from batch
    on conflict (user_id, policy_version_id, template) do nothing returning 1
)
select (select id from batch order by id desc limit 1) as last_id,
       (select count(*) from notices) as notices,
       (select count(*) from emails) as emails
"""


def fan_out(db: Database, policy: PolicyVersion, *, batch_size: int = DEFAULT_BATCH) -> tuple[int, int]:
    """Notice + email for every account, in batches of `batch_size`, one short transaction each."""
    label = "privacy policy" if policy.kind == "privacy" else "terms of service"
    title = f"We updated our {label}"
    body = f"Version {policy.version} of our {label} is in force from {policy.effective_at:%Y-%m-%d}."
    if policy.summary:
        body += f" What changed: {policy.summary}"
    if policy.material:
        body += " Please review and accept it to keep using Atelier."
    after = UUID(int=0)
    notices = emails = 0
    while True:
        with db.transaction() as conn:
            row = conn.execute(
                _FAN_OUT,
                {"after": after, "limit": batch_size, "policy": policy.id, "title": title, "body": body},
            ).fetchone()
        if row is None or row["last_id"] is None:
            return notices, emails
        notices += int(row["notices"])
        emails += int(row["emails"])
        after = row["last_id"]
