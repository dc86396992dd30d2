"""Reports of gallery images: anyone may report, one reporter counts once per image, nobody's identity is kept.

The reporter is a keyed hash (HMAC with the deployment's pseudonym key) of their account id when signed in,
else of their address, so a repeat from the same person lands on the unique key and is not counted again,
while the table holds neither the id nor the address.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal, get_args
from uuid import UUID

from shared.kit.db.database import Connection
from shared.media import service as media

ReportReason = Literal[
    "sexual", "minor_safety", "violence", "hate", "harassment", "illegal", "copyright", "privacy", "spam", "other"
]
REASONS: tuple[str, ...] = get_args(ReportReason)
MAX_DETAILS = 2000


def reporter_ref(key: bytes, *, account_id: UUID | None, address: str | None) -> str:
    """Who reported, as a keyed hash: the account when signed in, else the client address."""
    subject = f"account:{account_id}" if account_id is not None else f"address:{address or 'unknown'}"
    return hmac.new(key, b"gallery-report:" + subject.encode(), hashlib.sha256).hexdigest()


def report(conn: Connection, *, media_id: UUID, reporter: str, reason: ReportReason, details: str | None) -> bool:
    """Record a report of a gallery item (`NotFound` unless the gallery shows it); True when it is new."""
    media.gallery_item(conn, media_id)
    row = conn.execute(
        """insert into gallery_reports (media_id, reporter_ref, reason, details)
           values (%s, %s, %s, %s)
           on conflict (media_id, reporter_ref) do nothing
           returning id""",
        (media_id, reporter, reason, (details or "").strip() or None),
    ).fetchone()
    return row is not None
