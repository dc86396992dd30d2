"""Complete Polar payloads the real polar-sdk parses, signed exactly as Polar signs webhooks.

`build(Model, **patch)` fills every required field of one of the SDK's own dataclasses with a plausible
value (ids, timestamps, the first member of an enum), then applies `patch`. The result is checked by
the SDK's own deserializer before a test sees it, so a fixture can never drift from the real schema.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from polar.base import deserialize
from polar.v2026_10 import outputs
from polar.v2026_10 import webhooks as polar_webhooks

from tests.support.loopback import Loopback, Recorded, Reply, loopback_server

API_VERSION = "2026-10"
NOW = datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _value(name: str, tp: Any) -> Any:  # noqa: PLR0911, PLR0912 - one case per JSON type
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args:
            return None
        return _value(name, args[0])
    if origin is typing.Literal:
        return args[0]
    if origin in (list, tuple, set, frozenset):
        return []
    if origin is dict:
        return {}
    if tp is str:
        if name == "id" or name.endswith("_id"):
            return str(uuid.uuid4())
        if name.endswith("_at") or name.startswith("current_period"):
            return iso(NOW)
        if name == "currency":
            return "usd"
        if name.endswith("url"):
            return "https://polar.example/" + name
        return name
    if tp is bool:
        return False
    if tp is int:
        return 0
    if tp is float:
        return 0.0
    if tp is Any:
        return None
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return build_raw(tp)
    if typing.is_typeddict(tp):
        hints = typing.get_type_hints(tp)
        return {key: _value(key, hints[key]) for key in tp.__required_keys__}
    raise TypeError(f"no default for {name}: {tp!r}")


def build_raw(model: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(model)
    out: dict[str, Any] = {}
    for field in dataclasses.fields(model):
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            out[field.name] = _value(field.name, hints[field.name])
    return out


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and value:
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build(model: type[Any], **patch: Any) -> dict[str, Any]:
    """A complete JSON object of `model` with `patch` merged in (nested dicts merge), proven parseable."""
    data = _merge(build_raw(model), patch)
    deserialize(data, model)
    return data


def order(
    *,
    order_id: str | None = None,
    external_id: str | None,
    product_id: str,
    billing_reason: str = "purchase",
    total_amount: int = 1000,
    net_amount: int | None = None,
    currency: str = "usd",
    subscription: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    **patch: Any,
) -> dict[str, Any]:
    net = total_amount if net_amount is None else net_amount
    return build(
        outputs.Order,
        id=order_id or str(uuid.uuid4()),
        created_at=iso(created_at or NOW),
        status="paid",
        paid=True,
        subtotal_amount=net,
        net_amount=net,
        tax_amount=total_amount - net,
        total_amount=total_amount,
        currency=currency,
        billing_reason=billing_reason,
        product_id=product_id,
        subscription_id=subscription["id"] if subscription else None,
        subscription=subscription,
        customer=build(
            outputs.OrderCustomer,
            external_id=external_id,
            email="buyer@example.com",
            name="Ada Buyer",
            type="individual",
        ),
        **patch,
    )


def order_subscription(*, period_end: datetime, interval: str = "month", **patch: Any) -> dict[str, Any]:
    return build(
        outputs.OrderSubscription,
        status="active",
        recurring_interval=interval,
        recurring_interval_count=1,
        current_period_start=iso(period_end - timedelta(days=30)),
        current_period_end=iso(period_end),
        **patch,
    )


def refund(*, order_id: str, amount: int, status: str = "succeeded", refund_id: str | None = None) -> dict[str, Any]:
    return build(
        outputs.Refund,
        id=refund_id or str(uuid.uuid4()),
        order_id=order_id,
        amount=amount,
        status=status,
        reason="customer_request",
        currency="usd",
    )


def subscription(*, external_id: str | None, status: str = "canceled", **patch: Any) -> dict[str, Any]:
    base = build_raw(outputs.Subscription)
    customer = _merge(base["customer"], {"external_id": external_id, "email": "buyer@example.com"})
    return build(
        outputs.Subscription,
        status=status,
        customer=customer,
        current_period_end=iso(NOW + timedelta(days=20)),
        **patch,
    )


def event(event_type: str, data: dict[str, Any], *, timestamp: datetime | None = None) -> dict[str, Any]:
    """A webhook envelope, proven to parse as the SDK's typed payload when the type is one it knows."""
    envelope = {"type": event_type, "timestamp": iso(timestamp or NOW), "api_version": API_VERSION, "data": data}
    if event_type in polar_webhooks._KNOWN_EVENT_TYPES:
        deserialize(envelope, polar_webhooks.WebhookPayload)
    return envelope


# --- signing, as Polar (Standard Webhooks) does it -----------------------------------------------------

LEGACY_SECRET = "whsec_legacy-format-secret-used-verbatim!"  # before 2026-09: the key is the whole string
NEW_SECRET = "whsec_" + base64.b64encode(hashlib.sha256(b"atelier tests").digest()).decode()  # key: decoded part


def signing_key(secret: str) -> bytes:
    remainder = secret.removeprefix("whsec_")
    try:
        decoded = base64.b64decode(remainder + "=" * (-len(remainder) % 4), validate=True)
    except ValueError:
        return secret.encode()
    return decoded or secret.encode()


def sign(body: bytes, secret: str, *, webhook_id: str | None = None, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`: HMAC-SHA256 over f"{id}.{timestamp}.{body}"."""
    wid = webhook_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(signing_key(secret), f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": wid,
        "webhook-timestamp": str(ts),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


# --- Polar's API, played by a loopback server (checkout and customer-portal sessions) ----------------------------

TOKEN = "polar_oat_test_token"
PRODUCTS_TOML = """
[[product]]
polar_product_id = "prod-starter"
name = "Starter pack"
kind = "pack"
credits = 100
"""


def product(
    product_id: str, *, amount: int | None = 500, currency: str = "usd", recurring: bool = False, **patch: Any
) -> dict[str, Any]:
    """A Product as GET /v1/products/{id} answers it: one live fixed price of `amount` cents (None: a custom,
    pay-what-you-want price), a one-time purchase unless `recurring`."""
    if amount is None:
        price = build(outputs.ProductPriceCustom, product_id=product_id, is_archived=False, price_currency=currency)
    else:
        price = build(
            outputs.ProductPriceFixed,
            product_id=product_id,
            is_archived=False,
            price_amount=amount,
            price_currency=currency,
        )
    return build(
        outputs.Product,
        id=product_id,
        is_archived=False,
        is_recurring=recurring,
        recurring_interval="month" if recurring else None,
        prices=[price],
        **patch,
    )


def _replying(status: int, body: dict[str, Any]) -> Callable[[Recorded], Reply]:
    def reply(_: Recorded) -> Reply:
        return Reply(status, body)

    return reply


def serve_products(loopback: Loopback, products: dict[str, dict[str, Any] | None]) -> None:
    """Answer GET /v1/products/{id} for each of `products`: id → Product JSON, or None for Polar's own 404
    (`{"error": "ResourceNotFound", "detail": "Not found"}`, what it answers for an id it does not know)."""
    for product_id, body in products.items():
        missing = build(outputs.ResourceNotFound, error="ResourceNotFound", detail="Not found")
        reply = _replying(200, body) if body is not None else _replying(404, missing)
        loopback.routes[("GET", f"/v1/products/{product_id}")] = reply


def _checkout_reply(request: Recorded) -> Reply:
    body = json.loads(request.body)
    return Reply(201, build(outputs.Checkout, url=f"https://polar.example/checkout/{body['products'][0]}"))


def _session_reply(_: Recorded) -> Reply:
    return Reply(201, build(outputs.CustomerSession, customer_portal_url="https://polar.example/portal/s1"))


@contextmanager
def polar_api() -> Iterator[Loopback]:
    """Polar's checkout and customer-session endpoints, answering what the real API answers."""
    with loopback_server(
        {("POST", "/v1/checkouts/"): _checkout_reply, ("POST", "/v1/customer-sessions/"): _session_reply}
    ) as srv:
        yield srv


def billing_settings(folder: Path, polar_url: str) -> dict[str, Any]:
    """Settings fields for an app whose billing works end to end against `polar_api()` (and verifies webhooks)."""
    products = folder / "products.toml"
    products.write_text(PRODUCTS_TOML)
    return {
        "products_file": products,
        "polar_access_token": TOKEN,
        "polar_api_url": polar_url,
        "polar_webhook_secret": NEW_SECRET,
        "checkout_success_url": "https://studio.example/thanks",
        "portal_return_url": "https://studio.example/account",
    }
