"""Moderation seams: a prompt check before credits are reserved, an output check before they are posted.

The default is a configurable term list (config/moderation.py plus ATELIER_BLOCKED_TERMS). A real
classifier implements the same `Moderator` protocol and replaces `TermListModerator` at the edge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from config.moderation import BLOCKED_TERMS
from shared.errors import Unprocessable


class ContentBlocked(Unprocessable):
    """This request or its output is not allowed by the content policy."""

    code = "content_blocked"


class Moderator(Protocol):
    def check_prompt(self, text: str) -> None:
        """Raise ContentBlocked for a prompt that must not be rendered."""

    def output_allowed(self, image_bytes: bytes, content_type: str) -> bool:
        """Whether a rendered image may be delivered; a blocked output voids its credits."""


class TermListModerator:
    def __init__(self, extra_terms: Iterable[str] = ()) -> None:
        terms = [t.strip().lower() for t in (*BLOCKED_TERMS, *extra_terms) if t.strip()]
        self._pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)

    def check_prompt(self, text: str) -> None:
        if self._pattern.search(text):
            raise ContentBlocked("The prompt is not allowed by the content policy.")

    def output_allowed(self, image_bytes: bytes, content_type: str) -> bool:
        """A term list cannot judge pixels; a classifier replaces this. Everything passes here."""
        return True
