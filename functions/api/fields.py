"""Field types shared by every request model, so one rule covers every stored text field."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from shared.kit.text import require_storable

# Any client text that may be stored (prompts, names, reasons): 422 `invalid_request` for NUL and other
# control characters, which Postgres cannot store or which no field has a use for.
NoControlCharacters = AfterValidator(require_storable)
# The same rule as a pattern, so the OpenAPI description states it (clients and the fuzzer see it); the
# validator also refuses lone surrogates, which a pattern cannot name.
STORABLE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
StoredText = Annotated[str, Field(pattern=STORABLE_PATTERN), NoControlCharacters]
# A `pattern` given after the validator (`Annotated[StoredText, Field(pattern=...)]`) is enforced but left out
# of the OpenAPI description: a field with its own pattern writes `Annotated[str, Field(...), NoControlCharacters]`.


def _iso_date(value: object) -> object:
    """Only `YYYY-MM-DD` text: lax coercion would read `0` as 1970-01-01 or accept a datetime string."""
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


# A calendar date sent as `YYYY-MM-DD` and nothing else (the age check must not be fooled by coercion).
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
