"""Support tickets: open one (multipart, up to five image attachments validated and classified like uploads), list,
reply."""

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import WithJsonSchema

from config.limits import MAX_ATTACHMENTS
from config.settings import Settings
from functions.api.deps import AppSettings, ContentModerator, CurrentCaller, Db, OnboardedCaller, PageCursor, Storage
from functions.api.fields import storable
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from functions.api.schemas import ResponseModel
from functions.api.screening import judge_uploads
from shared.kit.errors import NotFound, PayloadTooLarge
from shared.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from shared.kit.text import VISIBLE_LINE_PATTERN, VISIBLE_TEXT_PATTERN
from shared.media.images import (
    CleanImage,
    DecodingBusy,
    ImageBodyTooLarge,
    ImageTooLarge,
    InvalidImage,
    UnsupportedImageType,
    validate_image,
)
from shared.media.storage import StorageUnavailable
from shared.moderation import ContentBlocked, ModerationUnavailable, Moderator
from shared.support import rules
from shared.support.rules import AlreadyAppealed, InvalidSupportText, TooManyAttachments

if TYPE_CHECKING:  # the tickets' service is imported by these routes' calls (cold start: routes/__init__.py)
    from shared.support import service

log = logging.getLogger("atelier.api.support")

ATTACHMENT_ERRORS = (
    ImageBodyTooLarge,
    PayloadTooLarge,
    UnsupportedImageType,
    InvalidImage,
    ImageTooLarge,
    DecodingBusy,
    StorageUnavailable,
    ContentBlocked,
    ModerationUnavailable,
)
REFUSED = "An attachment is not allowed by the content policy; nothing was stored."
# The text rules `rules.check_text` applies, described in the OpenAPI (not enforced by the framework, so a
# refusal keeps its stable code `invalid_support_text`): at least one non-blank character, and no control
# character (shared/kit/text.py: C0 but tab, newline and carriage return; DEL; C1).
TEXT_PATTERN = VISIBLE_TEXT_PATTERN
SUBJECT_SCHEMA: dict[str, Any] = {"minLength": 1, "maxLength": rules.MAX_SUBJECT, "pattern": VISIBLE_LINE_PATTERN}
MESSAGE_SCHEMA: dict[str, Any] = {"minLength": 1, "maxLength": rules.MAX_MESSAGE, "pattern": TEXT_PATTERN}
# Described, not enforced by the framework: more attachments are 422 `too_many_attachments`.
MAX_FILES: dict[str, Any] = {"json_schema_extra": {"maxItems": MAX_ATTACHMENTS}}
ATTACHMENTS = f"up to {MAX_ATTACHMENTS} images (JPEG, PNG or WebP)"


def _no_files() -> list[UploadFile]:
    """No attachment: a factory of ours, not `list`, whose signature pydantic would parse with the tokenizer when
    the route is declared (cold start, issue 34; config/settings.py says more)."""
    return []


router = APIRouter(prefix="/v1/support", tags=["support"])


class AttachmentOut(ResponseModel):
    id: UUID
    content_type: str
    width: int
    height: int
    bytes: int
    url: str | None


class MessageOut(ResponseModel):
    id: UUID
    author: str
    body: str
    created_at: datetime
    attachments: list[AttachmentOut]


class TicketOut(ResponseModel):
    id: UUID
    subject: str
    status: str
    created_at: datetime
    updated_at: datetime
    messages: list[MessageOut]
    topic: str = "general"  # `appeal` for an appeal against a moderation decision
    decision_id: UUID | None = None  # the decision an appeal contests
    appeal_outcome: str | None = None  # restored | confirmed, once a person has decided


class TicketPage(ResponseModel):
    items: list[TicketOut]
    next_cursor: str | None


def _absolute(request: Request, url: str) -> str:
    return f"{str(request.base_url).rstrip('/')}{url}" if url.startswith("/") else url


def _message_out(request: Request, message: "service.Message", urls: dict[str, str]) -> MessageOut:
    return MessageOut(
        id=message.id,
        author=message.author,
        body=message.body,
        created_at=message.created_at,
        attachments=[
            AttachmentOut(
                id=a.id,
                content_type=a.content_type,
                width=a.width,
                height=a.height,
                bytes=a.bytes,
                url=_absolute(request, urls[a.storage_key]) if a.storage_key in urls else None,
            )
            for a in message.attachments
        ],
    )


def _urls(storage: Any, messages: "list[service.Message]") -> dict[str, str]:
    keys = [a.storage_key for m in messages for a in m.attachments]
    found: dict[str, str] = storage.signed_urls(keys) if keys else {}
    return found


def _ticket_out(request: Request, ticket: "service.Ticket", urls: dict[str, str]) -> TicketOut:
    return TicketOut(
        id=ticket.id,
        subject=ticket.subject,
        status=ticket.status,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        messages=[_message_out(request, m, urls) for m in ticket.messages],
        topic=ticket.topic,
        decision_id=ticket.decision_id,
        appeal_outcome=ticket.appeal_outcome,
    )


def _clean(
    files: list[UploadFile], settings: Settings, *, db: Db, moderator: Moderator, user_id: UUID
) -> list[CleanImage]:
    """Validate, then classify (as uploads are), every attachment before anything is stored; the first bad one
    refuses the whole request, and a blocked one is recorded like a blocked upload."""
    rules.check_attachment_count(len(files))
    images = []
    for file in files:
        data = file.file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise ImageBodyTooLarge(f"An attachment is larger than {settings.max_upload_bytes} bytes.")
        images.append(
            validate_image(
                data,
                max_bytes=settings.max_upload_bytes,
                max_pixels=settings.max_upload_pixels,
                max_side=settings.max_image_side,
            )
        )
    judge_uploads(db, moderator, user_id, images, refusal=REFUSED)
    return images


@router.post(
    "/tickets",
    status_code=201,
    summary="Open a support ticket (multipart: subject, message, attachments; decision_id makes it an appeal)",
    dependencies=[rate_limited("uploads")],
    responses=errors(InvalidSupportText, TooManyAttachments, AlreadyAppealed, NotFound, *ATTACHMENT_ERRORS),
)
def open_ticket(
    *,
    request: Request,
    caller: OnboardedCaller,
    db: Db,
    storage: Storage,
    settings: AppSettings,
    moderator: ContentModerator,
    subject: Annotated[str, Form(json_schema_extra=SUBJECT_SCHEMA), storable(code=InvalidSupportText.code)],
    message: Annotated[
        str, Form(json_schema_extra=MESSAGE_SCHEMA), storable(multiline=True, code=InvalidSupportText.code)
    ],
    attachments: Annotated[list[UploadFile], File(default_factory=_no_files, description=ATTACHMENTS, **MAX_FILES)],
    decision_id: Annotated[
        UUID | None,
        Form(description="Appeal this moderation decision (the id its notice names)"),
        WithJsonSchema({"type": "string", "format": "uuid"}),  # optional, never `null`: a form field is text
    ] = None,
) -> TicketOut:
    from shared.support import service  # lazy: see the imports

    rules.check_text(subject, message)
    images = _clean(attachments, settings, db=db, moderator=moderator, user_id=caller.account.id)
    ticket = service.open_ticket(
        db, storage, user_id=caller.account.id, subject=subject, message=message, images=images,
        decision_id=decision_id,
    )  # fmt: skip
    log.info("support ticket opened", extra={"ticket_id": str(ticket.id), "attachments": len(images)})
    return _ticket_out(request, ticket, _urls(storage, ticket.messages))


@router.get(
    "/tickets",
    summary="The caller's support tickets with their messages, newest first",
    dependencies=[rate_limited("account")],
)
def list_tickets(
    *,
    request: Request,
    caller: CurrentCaller,
    db: Db,
    storage: Storage,
    cursor: PageCursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> TicketPage:
    from shared.support import service  # lazy: see the imports

    position = Cursor.decode(cursor)
    with db.transaction() as conn:
        page = service.list_tickets(conn, caller.account.id, cursor=position, limit=limit)
    urls = _urls(storage, [m for t in page.items for m in t.messages])
    return TicketPage(items=[_ticket_out(request, t, urls) for t in page.items], next_cursor=page.next_cursor)


@router.get(
    "/tickets/{ticket_id}", summary="One of the caller's support tickets", dependencies=[rate_limited("account")]
)
def get_ticket(request: Request, ticket_id: UUID, caller: CurrentCaller, db: Db, storage: Storage) -> TicketOut:
    from shared.support import service  # lazy: see the imports

    with db.transaction() as conn:
        ticket = service.get_ticket(conn, caller.account.id, ticket_id)
    return _ticket_out(request, ticket, _urls(storage, ticket.messages))


@router.post(
    "/tickets/{ticket_id}/messages",
    status_code=201,
    summary="Add a message (and attachments) to a ticket",
    dependencies=[rate_limited("uploads")],
    responses=errors(InvalidSupportText, TooManyAttachments, *ATTACHMENT_ERRORS),
)
def post_message(
    *,
    request: Request,
    ticket_id: UUID,
    caller: CurrentCaller,
    db: Db,
    storage: Storage,
    settings: AppSettings,
    moderator: ContentModerator,
    message: Annotated[
        str, Form(json_schema_extra=MESSAGE_SCHEMA), storable(multiline=True, code=InvalidSupportText.code)
    ],
    attachments: Annotated[list[UploadFile], File(default_factory=_no_files, description=ATTACHMENTS, **MAX_FILES)],
) -> MessageOut:
    from shared.support import service  # lazy: see the imports

    rules.check_text(None, message)
    with db.transaction() as conn:
        service.get_ticket(conn, caller.account.id, ticket_id)  # 404 before reading any attachment
    images = _clean(attachments, settings, db=db, moderator=moderator, user_id=caller.account.id)
    added = service.add_message(
        db, storage, user_id=caller.account.id, ticket_id=ticket_id, message=message, images=images
    )
    return _message_out(request, added, _urls(storage, [added]))
