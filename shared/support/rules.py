"""What the support and contact forms accept: their limits, the patterns the OpenAPI describes, the checks and their
stable error codes.

Apart from the services (shared/support/service.py, contact.py) so the routes can declare these at import while
the services are loaded by the calls that use them (issue 34: cold start; functions/api/routes/__init__.py).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from config.limits import MAX_ATTACHMENTS
from shared.kit.errors import Conflict, Unprocessable
from shared.kit.text import VISIBLE_TEXT_PATTERN, has_control_characters

MAX_SUBJECT = 200
MAX_MESSAGE = 10_000


class TooManyAttachments(Unprocessable):
    """A message carries at most five attachments."""

    code = "too_many_attachments"


class InvalidSupportText(Unprocessable):
    """The subject (1-200 characters) or message (1-10,000 characters) is empty or too long."""

    code = "invalid_support_text"


class AlreadyAppealed(Conflict):
    """This decision has an appeal already; add to that ticket instead."""

    code = "already_appealed"


def check_text(subject: str | None, message: str) -> None:
    """Lengths, and no control character (Postgres text cannot hold NUL: it would be a 500, not a refusal).

    The same rule as every stored text field (`shared.kit.text`), under this form's own stable code."""
    if subject is not None and (not subject.strip() or len(subject) > MAX_SUBJECT or has_control_characters(subject)):
        raise InvalidSupportText("The subject must be 1-200 characters.")
    if not message.strip() or len(message) > MAX_MESSAGE or has_control_characters(message):
        raise InvalidSupportText("The message must be 1-10,000 characters.")


def check_attachment_count(count: int) -> None:
    if count > MAX_ATTACHMENTS:
        raise TooManyAttachments(f"At most {MAX_ATTACHMENTS} attachments per message.")


# The contact form (shared/support/contact.py).
Topic = Literal["general", "account", "billing", "privacy", "other"]
TOPICS: tuple[str, ...] = get_args(Topic)
MAX_EMAIL = 254
MAX_NAME = 200

# Patterns hold for both regex dialects that read them: JSON Schema's (ECMA) and Python's. C0 and C1 control
# characters are never allowed in an address or a name; the characters Python strips but ECMA's \s does not
# know (\x1c-\x1f, \x85) are excluded explicitly from "a visible character".
_CONTROLS = r"\u0000-\u001f\u007f-\u009f"
_FORBIDDEN = rf"\s<>()\[\],;:\"\\{_CONTROLS}"
# One address, no display name, no comments or quoting: what a person types into a form. Kept simple and
# strict on purpose (the address goes into an SMTP envelope): local part, "@", a dotted domain.
EMAIL_BODY = rf"[^@{_FORBIDDEN}]{{1,64}}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"
EMAIL_SCHEMA: dict[str, Any] = {"maxLength": MAX_EMAIL, "pattern": f"^{EMAIL_BODY}$"}
NAME_BODY = rf"[^{_CONTROLS}]*[^\s{_CONTROLS}][^{_CONTROLS}]*"
NAME_SCHEMA: dict[str, Any] = {"maxLength": MAX_NAME, "pattern": f"^{NAME_BODY}$"}
# The message rule of `check_text` (1-10,000 characters, something visible, no control character).
MESSAGE_SCHEMA: dict[str, Any] = {"minLength": 1, "maxLength": MAX_MESSAGE, "pattern": VISIBLE_TEXT_PATTERN}


class InvalidContactEmail(Unprocessable):
    """The address is not one we can answer to (one plain address, at most 254 characters)."""

    code = "invalid_contact_email"


class InvalidContactName(Unprocessable):
    """The name is empty, longer than 200 characters, or holds control characters."""

    code = "invalid_contact_name"
