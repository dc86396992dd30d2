"""Text fit to store: Postgres `text` cannot hold NUL, and no field of ours has a use for other controls.

Refused (or, for identity-provider claims we do not control, dropped): C0 controls but tab, newline and
carriage return; DEL; C1 controls; lone UTF-16 surrogates (valid in JSON, not encodable as UTF-8).
"""

from __future__ import annotations

import re

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# One-line text (names, addresses, ids, keys): no tab, newline or carriage return either.
_FORBIDDEN_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

# The same rule for an OpenAPI `pattern` (read by JSON Schema's regex dialect and Python's alike): at least one
# visible character and no control character. Routes describe it where the framework does not enforce it, so
# a refusal keeps the field's own stable code.
_CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
VISIBLE_TEXT_PATTERN = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"
# One-line text (a subject): the same, without tab, newline or carriage return.
_LINE_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
VISIBLE_LINE_PATTERN = rf"^[^{_LINE_CONTROL}]*[^\s{_LINE_CONTROL}][^{_LINE_CONTROL}]*$"


def has_control_characters(value: str) -> bool:
    return _FORBIDDEN.search(value) is not None


def strip_control_characters(value: str) -> str:
    return _FORBIDDEN.sub("", value)


def require_storable(value: str) -> str:
    """The value unchanged, or ValueError (a 422 at the edge) when it holds a character no field may store."""
    if has_control_characters(value):
        raise ValueError("control characters (such as NUL) are not allowed in text")
    return value


def unstorable(value: str, *, multiline: bool) -> str | None:
    """Why `value` may not be stored (None when it may): NUL, a lone surrogate, a control character, or (unless the
    text is multi-line) a tab or line break. The one rule every stored text field of a request follows."""
    found = (_FORBIDDEN if multiline else _FORBIDDEN_ONE_LINE).search(value)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "NUL is not allowed in text"
    if "\ud800" <= char <= "\udfff":
        return "a lone UTF-16 surrogate is not allowed in text"
    if char in "\t\n\r":
        return "tabs and line breaks are allowed only in multi-line text"
    return "control characters are not allowed in text"
