"""Verifying a Polar webhook delivery with polar-sdk and shaping it for the inbox.

`verify` raises `InvalidSignature` (403) for a missing or wrong signature, missing headers or a timestamp
outside Polar's ±5 minute tolerance, and `WebhooksDisabled` (503) when no secret is configured: a delivery
is never accepted unverified. A verified delivery whose type this SDK does not know, or whose content it
cannot parse (e.g. an enum value newer than the SDK), is still returned, with `payload=None`: it is
signed, so it is stored and answered 2xx rather than retried forever (Polar disables an endpoint that
keeps failing); the raw JSON stays in the inbox for an operator or a later SDK.

Personal fields Polar sends (customer email, names, billing address, tax id, avatar) are removed before
anything is stored: the inbox keeps ids, amounts, products and states only.
"""

from __future__ import annotations

import contextlib
import json
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from polar.base import PolarDeserializationError, deserialize
from polar.v2026_10.webhooks import (
    PolarWebhookError,
    PolarWebhookUnknownTypeError,
    PolarWebhookVerificationError,
    WebhookPayload,
)
from polar.webhooks import validate_event as validate_with_loader

from config.values import value
from shared.kit.errors import InvalidSignature, WebhooksDisabled

MAX_BODY_BYTES = 1_000_000
_PERSONAL_KEYS = frozenset(
    {
        "email",
        "billing_name",
        "billing_address",
        "tax_id",
        "avatar_url",
        "custom_field_data",
        "customer_email",
        "customer_name",
        "customer_ip_address",
        "customer_billing_name",
        "customer_billing_address",
        "customer_tax_id",
        "customer_cancellation_comment",
    }
)
METADATA_USER_KEY = "atelier_user_id"


@value
class Delivery:
    """One verified delivery: what the inbox stores and what the effects read."""

    webhook_id: str
    signed_at: datetime
    event_type: str | None
    document: dict[str, Any]  # the JSON as stored (personal fields removed)
    payload: WebhookPayload | None  # the SDK's typed payload; None for an unknown type or unparseable content
    problem: str | None  # why payload is None
    external_customer_id: str | None  # customer.external_id (our account id), when the event names a customer


def _payload_classes() -> dict[str, type[Any]]:
    """Each event type the SDK knows → its payload class, read from the `type: Literal[...]` of each member of
    the SDK's `WebhookPayload` union."""
    classes: dict[str, type[Any]] = {}
    for member in typing.get_args(WebhookPayload):
        hints = typing.get_type_hints(member)
        for name in typing.get_args(hints.get("type")):
            if name in classes:  # two members claim one type: the union decides, as the SDK does
                classes[name] = WebhookPayload  # type: ignore[assignment]
            else:
                classes[name] = member
    return classes


# The SDK's `validate_event` loads a payload into the whole `WebhookPayload` union, which tries its ~50 members in
# turn (an exception with a rendered trail for each miss before `order.paid` fits): ~4 ms per delivery, most of a
# delivery's time. The `type` field names the member, so the payload is loaded into that class alone (the same
# result: the other members' `type` literals refuse it), through the SDK's own verifying `validate_event`.
PAYLOAD_CLASSES = _payload_classes()
EVENT_TYPES = frozenset(PAYLOAD_CLASSES)


def _load_typed(data: dict[str, Any]) -> WebhookPayload:
    payload: WebhookPayload = deserialize(data, PAYLOAD_CLASSES[data["type"]])
    return payload


def warm_loaders(event_types: frozenset[str]) -> None:
    """Build the SDK's loaders for these event types now (adaptix generates each on its first use: a slow first
    delivery otherwise). A start-up step of the API (functions/api/app.py)."""
    for event_type in event_types:
        with contextlib.suppress(PolarDeserializationError):  # the document is empty: only the loader was wanted
            deserialize({"type": event_type}, PAYLOAD_CLASSES[event_type])


def redact(document: dict[str, Any]) -> dict[str, Any]:
    """A copy without personal fields, at any depth (kept as null so the SDK still parses the document).

    Customer objects (any object with an `email`) also lose their `name`; product names stay. The copy is built
    as it is redacted (the document is JSON already: dicts, lists and scalars), not serialised and parsed again."""
    out: dict[str, Any] = _redacted(document)
    return out


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        person = "email" in value
        return {
            key: None
            if key in _PERSONAL_KEYS or (person and key == "name")
            else (_redacted(item) if isinstance(item, dict | list) else item)  # scalars as they are, no call
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redacted(item) if isinstance(item, dict | list) else item for item in value]
    return value


def external_customer_id(document: Mapping[str, Any]) -> str | None:
    """Our account id as Polar knows it: customer.external_id, else the metadata our checkout set."""
    data = document.get("data")
    if not isinstance(data, dict):
        return None
    customer = data.get("customer")
    if isinstance(customer, dict) and isinstance(customer.get("external_id"), str) and customer["external_id"]:
        return str(customer["external_id"])[:200]
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get(METADATA_USER_KEY), str):
        return str(metadata[METADATA_USER_KEY])[:200]
    return None


def verify(body: bytes, headers: Mapping[str, str], secret: str | None) -> Delivery:
    if not secret:
        raise WebhooksDisabled("Webhooks are disabled: POLAR_WEBHOOK_SECRET is not configured.")
    lowered = {key.lower(): value for key, value in headers.items()}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:  # the SDK cannot check a signature over it
        raise InvalidSignature("The webhook body is not UTF-8 text.") from exc
    payload: WebhookPayload | None = None
    problem: str | None = None
    parsed: list[dict[str, Any]] = []

    def load(data: dict[str, Any]) -> WebhookPayload:
        parsed.append(data)
        return _load_typed(data)

    try:
        payload = validate_with_loader(text, lowered, secret, EVENT_TYPES, load)
    except PolarWebhookVerificationError as exc:
        raise InvalidSignature(f"Webhook verification failed: {exc.message}") from exc
    except PolarWebhookUnknownTypeError:
        problem = "unknown_event_type"
    except PolarWebhookError:  # signed (the signature is checked first) but not parseable by this SDK
        problem = "unparseable_payload"
    if parsed:  # the SDK parsed the JSON already
        document: Any = parsed[0]
    else:
        try:
            document = json.loads(text)
        except ValueError:
            document = None
    if not isinstance(document, dict):
        document = {"unparsed_body": text[:10_000]}
    timestamp = lowered["webhook-timestamp"]
    event_type = document.get("type")
    return Delivery(
        webhook_id=lowered["webhook-id"][:200],
        signed_at=datetime.fromtimestamp(int(float(timestamp)), UTC),
        event_type=event_type[:100] if isinstance(event_type, str) else None,
        document=redact(document),
        payload=payload,
        problem=problem,
        external_customer_id=external_customer_id(document),
    )


def load_payload(document: dict[str, Any]) -> WebhookPayload:
    """Parse a stored document again (to apply an unmatched event once its account exists)."""
    return deserialize(document, WebhookPayload)
