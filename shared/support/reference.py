"""A ticket's short reference: what a person can read out or type ("K3XQ7ZAB"), derived from the ticket's id.

The first 40 bits of the id in RFC 4648 base32 (8 characters, no padding, no 0/1/8/9 to confuse with letters).
Nothing is stored: the reference names the range of ids that begin with those 40 bits, and with random (v4)
ids two tickets share it about once in a million million, which `resolve` reports rather than guesses.
"""

from __future__ import annotations

import base64
import re
from uuid import UUID

from shared.kit.db.database import Connection
from shared.kit.errors import NotFound, Unprocessable

LENGTH = 8
_REFERENCE = re.compile(r"^[A-Z2-7]{8}$")


class AmbiguousReference(Unprocessable):
    """Two tickets share this short reference; use the ticket's full id."""

    code = "ambiguous_reference"


def short_reference(ticket_id: UUID) -> str:
    return base64.b32encode(ticket_id.bytes[:5]).decode("ascii")


def id_range(reference: str) -> tuple[UUID, UUID] | None:
    """The first and last id a reference can stand for; None when it is not a reference."""
    cleaned = reference.strip().upper().replace("-", "").replace(" ", "")
    if not _REFERENCE.match(cleaned):
        return None
    head = base64.b32decode(cleaned)
    return UUID(bytes=head + bytes(11)), UUID(bytes=head + b"\xff" * 11)


def resolve(conn: Connection, given: str) -> UUID:
    """A ticket's id from its full id or its short reference (as the person quotes it: any case, dashes)."""
    try:
        return UUID(given.strip())
    except ValueError:
        pass
    bounds = id_range(given)
    if bounds is None:
        raise NotFound("No ticket has this id or reference.")
    rows = conn.execute(
        "select id from support_tickets where id between %s and %s order by id limit 2", bounds
    ).fetchall()
    if not rows:
        raise NotFound("No ticket has this id or reference.")
    if len(rows) > 1:
        raise AmbiguousReference()
    found: UUID = rows[0]["id"]
    return found
