"""The contact form: a support ticket from someone who need not have an account.

The address given is kept on the ticket (never logged), used to acknowledge and to answer, and goes when the
ticket goes: by the `contact_tickets` retention rule, or with the account whose address it is (the data map's
`address_match`). Anyone can type any address, so a ticket is tied to an account (`contact_user_id`: exported
with it, the data map's `contact_match`) only when the address is proven: sent by a signed-in person whose
account has that very address (the identity provider verified it). Otherwise it is linked to nobody and
exported to nobody. A message on the topic `privacy` also enters the rights register, due one calendar month
later.
"""

from __future__ import annotations

import re
from datetime import datetime
from uuid import UUID

from config.values import value
from shared import ratelimit
from shared.kit.db.database import Connection
from shared.kit.errors import Unprocessable
from shared.privacy import requests
from shared.support.reference import short_reference
from shared.support.rules import (
    EMAIL_BODY,
    MAX_EMAIL,
    MAX_NAME,
    NAME_BODY,
    TOPICS,
    InvalidContactEmail,
    InvalidContactName,
    Topic,
    check_text,
)

# The form must not become a way to flood someone else's mailbox: at most this many acknowledgements go to one
# address per day, whatever the number of senders (counted under a keyed hash of the address).
ACKS_PER_ADDRESS = 3
ACK_WINDOW_SECONDS = 24 * 3600


@value
class ContactTicket:
    id: UUID
    topic: str
    privacy_request_id: UUID | None

    @property
    def reference(self) -> str:
        """What the person quotes (shared/support/reference.py)."""
        return short_reference(self.id)


def clean_email(email: str) -> str:
    value = email.strip()
    if len(value) > MAX_EMAIL or not re.fullmatch(EMAIL_BODY, value):
        raise InvalidContactEmail()
    return value


def clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    value = name.strip()
    if len(value) > MAX_NAME or not re.fullmatch(NAME_BODY, value):
        raise InvalidContactName()
    return value


def proven_owner(conn: Connection, account_id: UUID, address: str) -> UUID | None:
    """The signed-in account when `address` is its own (case aside) and nothing stops storing data for it (not
    being erased); else None: the ticket is then linked to nobody. Locks the account row against its erasure."""
    row = conn.execute(
        """select a.email from accounts a where a.id = %s
              and not exists (select 1 from account_erasures e where e.user_id = a.id)
              for key share""",
        (account_id,),
    ).fetchone()
    if row is None or not row["email"] or row["email"].strip().lower() != address.lower():
        return None
    return account_id


def open_contact_ticket(
    conn: Connection,
    *,
    email: str,
    name: str | None,
    topic: Topic,
    message: str,
    now: datetime,
    pseudonym_key: bytes = b"",
    signed_in: UUID | None = None,
) -> ContactTicket:
    """Ticket, first message, acknowledgement mail and (topic privacy) the register entry, in one transaction.
    Past ACKS_PER_ADDRESS a day for one address, the message is still kept but not acknowledged.

    `signed_in`: the account of a verified token sent with the message; the ticket is tied to it when the address
    given is that account's own (`proven_owner`)."""
    address, person = clean_email(email), clean_name(name)
    check_text(None, message)
    if topic not in TOPICS:
        raise Unprocessable(f"Unknown topic {topic!r}.")
    owner = proven_owner(conn, signed_in, address) if signed_in is not None else None
    row = conn.execute(
        """insert into support_tickets (user_id, subject, source, topic, contact_email, contact_name,
                                        contact_user_id, created_at, updated_at)
           values (null, %s, 'contact', %s, %s, %s, %s, %s, %s) returning id""",
        (f"Contact form: {topic}", topic, address, person, owner, now, now),
    ).fetchone()
    if row is None:  # pragma: no cover - insert ... returning always yields the row
        raise RuntimeError("insert returned nothing")
    ticket_id: UUID = row["id"]
    conn.execute(
        "insert into support_messages (ticket_id, user_id, author, body, created_at) values (%s, null, 'user', %s, %s)",
        (ticket_id, message, now),
    )
    acks = ratelimit.check(
        conn,
        bucket="contact:ack",
        key=address.lower(),
        limit=ACKS_PER_ADDRESS,
        window_seconds=ACK_WINDOW_SECONDS,
        secret=pseudonym_key,
    )
    if acks.allowed:
        from shared.notify.outbox import enqueue  # noqa: PLC0415  (lazy: the API starts without the mail machinery)

        enqueue(conn, "contact_ack", ticket_id=ticket_id, params={"reference": short_reference(ticket_id)})
    request_id = None
    if topic == "privacy":
        request_id = requests.open_contact_request(conn, ticket_id, now=now).id
    return ContactTicket(ticket_id, topic, request_id)
