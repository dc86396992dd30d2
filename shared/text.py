"""Text fit to store: Postgres `text` cannot hold NUL, and no field of ours has a use for other controls.

Refused (or, for identity-provider claims we do not control, dropped): C0 controls but tab, newline and
carriage return; DEL; C1 controls; lone UTF-16 surrogates (valid in JSON, not encodable as UTF-8).
"""

from __future__ import annotations

import re

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def has_control_characters(value: str) -> bool:
    return _FORBIDDEN.search(value) is not None


def strip_control_characters(value: str) -> str:
    return _FORBIDDEN.sub("", value)


def require_storable(value: str) -> str:
    """The value unchanged, or ValueError (a 422 at the edge) when it holds a character no field may store."""
    if has_control_characters(value):
        raise ValueError("control characters (such as NUL) are not allowed in text")
    return value
