"""The bases of the API's pydantic models: a response model's schema is built on first use, not at import.

A pydantic model builds its validator and serializer when its class is made, and FastAPI builds another pair for
each route's response when the route is declared; the ~75 response models were about a sixth of what
`import functions.api.app` cost beyond the libraries it needs (issue 34: cold start). A `ResponseModel` defers
both (`defer_build`) to the first request that answers with it: a millisecond or two, once per model per process.
The API on Modal builds them all before its memory snapshot instead (`build_all`, called by
functions/api_service.py), so a restored container pays nothing.

A request body is a `RequestModel`, built at import as before: FastAPI builds a body's validator when the route is
declared and silences pydantic's warning about the field alias it gives the body; built later, at the first
request, that warning would escape (and the test suite turns warnings into errors).
tests/unit/test_architecture.py checks that no body is deferred.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A request body (or a model nested in one): built when its class is made."""


class ResponseModel(BaseModel):
    """A response (or a model only responses use): built on first use."""

    model_config = ConfigDict(defer_build=True)


def response_models() -> Iterator[type[ResponseModel]]:
    """Every subclass of ResponseModel defined so far (subclasses of subclasses too)."""
    seen: set[type[ResponseModel]] = set()
    pending = list(ResponseModel.__subclasses__())
    while pending:
        model = pending.pop()
        if model not in seen:
            seen.add(model)
            pending.extend(model.__subclasses__())
            yield model


def build_all(routes: Iterable[Any]) -> None:
    """Build what `defer_build` left for later: every ResponseModel's validator and serializer, and the ones FastAPI
    made for `routes`' responses (describing the routes builds each; the description is dropped)."""
    from fastapi.openapi.utils import get_openapi

    for model in response_models():
        model.model_rebuild(force=True)
    get_openapi(title="warm-up", version="0", routes=list(routes))
