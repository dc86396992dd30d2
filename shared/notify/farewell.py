"""The "your account has been deleted" mail, sent by the erasure run itself just before the rows step.

It cannot wait in the outbox: the rows step erases the address and the outbox rows with it. A transient
failure fails the step, so the erasure run retries it later; after FAREWELL_ATTEMPTS runs, or on a permanent
refusal, the mail is given up and the erasure goes on: deleting the data matters more than saying so.
"""

from __future__ import annotations

import logging
import uuid
from uuid import UUID

from shared.kit.db.database import Database
from shared.notify.email import EmailSender, OutgoingEmail, PermanentEmailError
from shared.notify.mails import Site, render

log = logging.getLogger("atelier.email")

FAREWELL_ATTEMPTS = 3


def send(db: Database, user_id: UUID, sender: EmailSender, site: Site) -> bool:
    """Send it now to the address the account still has; True when the server accepted it."""
    with db.transaction() as conn:
        row = conn.execute(
            """select a.email, e.attempts from accounts a
                 left join account_erasures e on e.user_id = a.id where a.id = %s""",
            (user_id,),
        ).fetchone()
    if row is None or not row["email"]:
        return False
    mail = render("deletion_completed", site, {})
    outbox_id = uuid.uuid4()
    email = OutgoingEmail(outbox_id, row["email"], "deletion_completed", mail.subject, mail.text, mail.html)
    try:
        sender.send(email)
    except PermanentEmailError as exc:
        log.warning("farewell email %s refused for good: %s", outbox_id, exc.code)
        return False
    except Exception as exc:
        if (row["attempts"] or 0) >= FAREWELL_ATTEMPTS:
            log.warning("farewell email %s given up: %s", outbox_id, type(exc).__name__)
            return False
        raise
    finally:
        close = getattr(sender, "close", None)
        if callable(close):
            close()
    return True
