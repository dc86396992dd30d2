"""The contact form: anyone, signed in or not, writes to support; the answer comes by email."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from functions.api.deps import AppSettings, Db
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from shared.support import contact
from shared.support.service import InvalidSupportText

log = logging.getLogger("atelier.api.contact")

router = APIRouter(prefix="/v1", tags=["support"])


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Described, not enforced by the framework, so a refusal keeps its stable code (invalid_contact_*).
    email: Annotated[str, Field(json_schema_extra=contact.EMAIL_SCHEMA)]
    name: Annotated[str | None, Field(json_schema_extra=contact.NAME_SCHEMA)] = None
    topic: contact.Topic
    message: Annotated[str, Field(json_schema_extra=contact.MESSAGE_SCHEMA)]


class ContactOut(BaseModel):
    id: UUID
    reference: str = Field(description="a short reference the person can quote (8 letters and digits)")
    status: str  # received
    topic: str


DESCRIPTION: dict[str, Any] = {
    "description": "Anonymous. Creates a support ticket that keeps the address only to answer, and mails an "
    "acknowledgement to it. Topic `privacy` also registers a rights request, answered within one month."
}


@router.post(
    "/contact",
    status_code=202,
    summary="Write to support without an account (the answer comes by email)",
    dependencies=[rate_limited("public"), rate_limited("contact")],
    responses=errors(contact.InvalidContactEmail, contact.InvalidContactName, InvalidSupportText),
    openapi_extra=DESCRIPTION,
)
def send_contact(body: ContactIn, db: Db, settings: AppSettings) -> ContactOut:
    with db.transaction() as conn:
        ticket = contact.open_contact_ticket(
            conn,
            email=body.email,
            name=body.name,
            topic=body.topic,
            message=body.message,
            now=datetime.now(UTC),
            pseudonym_key=settings.pseudonym_key,
        )
    log.info("contact message received", extra={"ticket_id": str(ticket.id), "topic": ticket.topic})
    return ContactOut(id=ticket.id, reference=ticket.reference, status="received", topic=ticket.topic)
