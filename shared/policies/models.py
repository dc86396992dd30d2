"""Policy versions and acceptances."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from config.policies import PolicyKind
from config.values import value


@value
class PolicyVersion:
    """One published version of a policy text (terms, privacy, content)."""

    id: UUID
    kind: PolicyKind
    version: int
    effective_at: datetime
    text_sha256: str
    material: bool
    text: str
    summary: str | None = None  # what changed since the previous version, shown on the accept page

    @property
    def url(self) -> str:
        return f"/v1/policies/{self.kind}/{self.version}"


@value
class Acceptance:
    """An account's acceptance of one policy version."""

    id: UUID
    kind: PolicyKind
    version: int
    policy_version_id: UUID
    accepted_at: datetime


@value
class PublishResult:
    """What publishing a policy text did: the version in force and the notices and mails it queued."""

    policy: PolicyVersion
    created: bool  # False when the text equals the latest version (a re-run resumes the fan-out)
    notices_created: int
    emails_queued: int
