"""The contact form: anyone, signed in or not, writes to support; the answer comes by email."""

import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import ConfigDict, Field

from functions.api.deps import AppSettings, Db, bearer_token
from functions.api.fields import storable
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from functions.api.schemas import RequestModel, ResponseModel
from shared.auth import TokenVerifier
from shared.kit.errors import AtelierError
from shared.support import rules
from shared.support.rules import InvalidContactEmail, InvalidContactName, InvalidSupportText

log = logging.getLogger("atelier.api.contact")

router = APIRouter(prefix="/v1", tags=["support"])


class ContactIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    # Described, not enforced by the framework, so a refusal keeps its stable code (invalid_contact_*).
    email: Annotated[str, Field(json_schema_extra=rules.EMAIL_SCHEMA), storable(code=InvalidContactEmail.code)]
    name: Annotated[str, Field(json_schema_extra=rules.NAME_SCHEMA), storable(code=InvalidContactName.code)] | None = (
        None
    )
    topic: rules.Topic
    message: Annotated[
        str, Field(json_schema_extra=rules.MESSAGE_SCHEMA), storable(multiline=True, code=InvalidSupportText.code)
    ]


class ContactOut(ResponseModel):
    id: UUID
    reference: str = Field(description="a short reference the person can quote (8 letters and digits)")
    status: str  # received
    topic: str


DESCRIPTION: dict[str, Any] = {
    "description": "Anonymous. Creates a support ticket that keeps the address only to answer, and mails an "
    "acknowledgement to it. Topic `privacy` also registers a rights request, answered within one month. Sent with "
    "the bearer token of an account whose own (verified) address is the one given, the ticket is tied to that "
    "account and included in its data export; otherwise it is linked to no account and exported to nobody."
}


def _sender_account(request: Request, email: str) -> UUID | None:
    """The account of a valid bearer token whose verified email is the address given; None otherwise. The form
    stays anonymous: a missing, invalid or other person's token only means the message is linked to nobody."""
    token = bearer_token(request)
    if token is None:
        return None
    verifier: TokenVerifier = request.app.state.verifier
    try:
        principal = verifier.verify(token)
    except AtelierError:
        return None
    if not principal.email or principal.email.strip().lower() != email.strip().lower():
        return None
    return principal.user_id


@router.post(
    "/contact",
    status_code=202,
    summary="Write to support without an account (the answer comes by email)",
    dependencies=[rate_limited("public"), rate_limited("contact")],
    responses=errors(InvalidContactEmail, InvalidContactName, InvalidSupportText),
    openapi_extra=DESCRIPTION,
)
def send_contact(body: ContactIn, request: Request, db: Db, settings: AppSettings) -> ContactOut:
    from shared.support import contact  # loaded by the first message, not at start (routes/__init__.py)

    signed_in = _sender_account(request, body.email)
    with db.transaction() as conn:
        ticket = contact.open_contact_ticket(
            conn,
            email=body.email,
            name=body.name,
            topic=body.topic,
            message=body.message,
            now=datetime.now(UTC),
            pseudonym_key=settings.pseudonym_key,
            signed_in=signed_in,
        )
    log.info("contact message received", extra={"ticket_id": str(ticket.id), "topic": ticket.topic})
    return ContactOut(id=ticket.id, reference=ticket.reference, status="received", topic=ticket.topic)
