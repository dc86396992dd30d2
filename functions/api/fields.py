"""Field types shared by every request model, so one rule covers every stored text field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from shared.kit.text import unstorable

# Every client text a request may store (prompts, names, reasons, addresses, keys) is one of these types, or
# carries `storable(...)`: NUL, lone surrogates (valid in JSON, not encodable as UTF-8) and control characters
# are 422, never a 500 from the database; tab and line breaks only where the text is multi-line. The refusal's
# code is `invalid_request`, or the field's own stable code where it has one (`storable(code=...)`).
# tests/integration/test_hostile_clients.py walks every request model and fails on a string without it.
UNSTORABLE = "unstorable_text"  # the pydantic error type; functions/api/errors.py answers its `code`
_CHECKS: set[Callable[[str], str]] = set()


def storable(*, multiline: bool = False, code: str = "invalid_request") -> AfterValidator:
    """The stored-text rule (shared/kit/text.py `unstorable`) as a validator that answers 422 `code`."""

    def check(value: str) -> str:
        problem = unstorable(value, multiline=multiline)
        if problem is not None:
            raise PydanticCustomError(UNSTORABLE, "{problem}", {"problem": problem, "code": code})
        return value

    _CHECKS.add(check)
    return AfterValidator(check)


def is_storable_check(validator: object) -> bool:
    """Whether a field's metadata item is the stored-text rule (for the sweep over request models)."""
    return isinstance(validator, AfterValidator) and validator.func in _CHECKS


# The rules as patterns too, so the OpenAPI description states them (clients and the fuzzer see them); the
# validator also refuses lone surrogates, which a pattern cannot name.
ONE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
STORABLE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
NoControlCharacters = storable()
StoredText = Annotated[str, Field(pattern=ONE_LINE_PATTERN), NoControlCharacters]
MultilineText = Annotated[str, Field(pattern=STORABLE_PATTERN), storable(multiline=True)]
# A `pattern` given after the validator (`Annotated[StoredText, Field(pattern=...)]`) is enforced but left out
# of the OpenAPI description: a field with its own pattern writes `Annotated[str, Field(...), NoControlCharacters]`.
# A field whose refusals keep their own code describes its rule with `json_schema_extra` (not enforced by the
# framework) and writes `Annotated[str, Field(json_schema_extra=...), storable(code="its_code")]`.


def _iso_date(value: object) -> object:
    """Only `YYYY-MM-DD` text: lax coercion would read `0` as 1970-01-01 or accept a datetime string."""
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


# A calendar date sent as `YYYY-MM-DD` and nothing else (the age check must not be fooled by coercion).
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
