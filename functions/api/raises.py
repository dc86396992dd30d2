"""Which errors an endpoint can answer with, declared where they are raised, so the OpenAPI description is derived.

A dependency says what it may raise with `@raises(...)` (the caller dependency: 401, 403, 428; the rate
limiter: 429, 503). A route says what its own service calls may raise with `responses=errors(...)`.
`functions.api.errors.declare_error_responses` walks each route's dependency tree and merges both into the
description, so a route that gains a dependency documents its answers without anyone remembering to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import Field

from functions.api.schemas import ResponseModel
from shared.kit.errors import AtelierError

F = TypeVar("F", bound=Callable[..., Any])


class ErrorDetail(ResponseModel):
    code: str
    message: str
    details: dict[str, Any] | None = Field(
        None, description="What to do next, when the code has a next step (e.g. which endpoint, which version)."
    )


class ErrorBody(ResponseModel):
    """The shape of every error answer: `{"error": {"code", "message", "details"?}}`."""

    error: ErrorDetail


_RAISED_BY: dict[Callable[..., Any], tuple[type[AtelierError], ...]] = {}


def raises(*errors: type[AtelierError]) -> Callable[[F], F]:
    """Mark a dependency as possibly raising `errors` (documented on every route that depends on it)."""

    def mark(fn: F) -> F:
        _RAISED_BY[fn] = _RAISED_BY.get(fn, ()) + errors
        return fn

    return mark


def raised_by(call: Callable[..., Any] | None) -> tuple[type[AtelierError], ...]:
    return _RAISED_BY.get(call, ()) if call is not None else ()


def by_status(errors: Iterable[type[AtelierError]]) -> dict[int, list[type[AtelierError]]]:
    grouped: dict[int, list[type[AtelierError]]] = {}
    for error in errors:
        if error not in grouped.setdefault(error.status, []):
            grouped[error.status].append(error)
    return grouped


def describe(errors: Iterable[type[AtelierError]]) -> str:
    """`"not_found: No such resource ... / unknown_product: ..."`: the stable codes a status can carry."""
    parts = []
    for error in errors:
        doc = (error.__doc__ or "").strip().splitlines()[0] if error.__doc__ else ""
        part = f"`{error.code}`: {doc}" if doc else f"`{error.code}`"
        if part not in parts:
            parts.append(part)
    return "; ".join(parts)


def errors(*raised: type[AtelierError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose service calls may raise `raised`, one entry per status.

    No `model`: `declare_error_responses` gives every error answer the `ErrorBody` schema anyway, and a `model`
    here would make the framework build a validator for each (route, status) at import, unused at run time.
    """
    return {status: {"description": describe(group)} for status, group in by_status(raised).items()}
