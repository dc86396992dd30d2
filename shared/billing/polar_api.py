"""Outbound calls to Polar through polar-sdk: checkout sessions, customer-portal sessions, the client itself.

Users are linked to Polar by our account id (`external_customer_id`), never by email. Every call has a
timeout (`ATELIER_HTTP_TIMEOUT_SECONDS`); Polar's failures become `payment_provider_error` (502).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from polar.base import PolarError
from polar.v2026_10 import Polar
from polar.v2026_10.errors import ResourceNotFound

from config.settings import Settings
from shared.billing.catalogue import Catalogue, Product
from shared.kit import http
from shared.kit.errors import BillingDisabled, PaymentProviderError

log = logging.getLogger("atelier.billing")

USER_METADATA_KEY = "atelier_user_id"
PRODUCT_METADATA_KEY = "atelier_product_id"


def make_client(settings: Settings) -> Polar:
    """A Polar client for `POLAR_SERVER` (or `POLAR_API_URL`); refuses when no access token is configured."""
    if not settings.polar_access_token:
        raise BillingDisabled("Billing is not configured (POLAR_ACCESS_TOKEN is unset).")
    return Polar(
        settings.polar_access_token,
        environment=settings.polar_server,
        base_url=settings.polar_api_url or None,
        timeout=http.timeout(settings),
    )


@contextmanager
def polar_client(settings: Settings) -> Iterator[Polar]:
    with make_client(settings) as client:
        yield client


def _provider_error(action: str, exc: PolarError) -> PaymentProviderError:
    status = getattr(exc, "status_code", None)
    log.warning("polar call failed", extra={"action": action, "error": type(exc).__name__, "status": status})
    return PaymentProviderError(f"The payment provider could not {action}; retry later.")


def create_checkout(client: Polar, *, product: Product, user_id: UUID, success_url: str | None) -> str:
    """A hosted checkout for one product, tied to our account id; returns its URL."""
    metadata: dict[str, str | int | float | bool] = {
        USER_METADATA_KEY: str(user_id),
        PRODUCT_METADATA_KEY: product.polar_product_id,
    }
    try:
        checkout = client.checkouts.create(
            products=[product.polar_product_id],
            external_customer_id=str(user_id),
            success_url=success_url,
            metadata=metadata,
        )
    except PolarError as exc:
        raise _provider_error("start a checkout", exc) from exc
    return checkout.url


def create_portal_session(client: Polar, *, user_id: UUID, return_url: str | None) -> str:
    """A customer-portal session for our account id; returns the portal URL."""
    try:
        session = client.customer_sessions.create(external_customer_id=str(user_id), return_url=return_url)
    except PolarError as exc:
        raise _provider_error("open the customer portal", exc) from exc
    return session.customer_portal_url


def delete_customer(client: Polar, *, user_id: UUID) -> bool:
    """Erasure: delete and anonymise the Polar customer known by our account id (Polar cancels its
    subscriptions and keeps its orders). True when deleted, False when Polar never knew the account."""
    try:
        client.customers.delete_external(str(user_id), anonymize=True)
    except ResourceNotFound:
        return False
    except PolarError as exc:
        raise _provider_error("delete the customer", exc) from exc
    return True


def _charged(price: object) -> tuple[int, str] | None:
    """(amount in cents, currency) of a live fixed price; None for any other price (custom, free, metered, seats)."""
    if getattr(price, "is_archived", False) or getattr(price, "amount_type", None) != "fixed":
        return None
    amount, currency = getattr(price, "price_amount", None), getattr(price, "price_currency", None)
    if not isinstance(amount, int) or not isinstance(currency, str):
        return None
    return amount, currency.lower()


def catalogue_problems(client: Polar, catalogue: Catalogue) -> list[str]:
    """What keeps the catalogue from matching what Polar charges, one line per product (empty when it matches):
    an id still a placeholder, a product Polar does not know or has archived, a one-time/subscription mismatch, or a
    price the pages would show that is not the product's fixed price on Polar. Reads each product with
    `products.get`; a failing call is a problem too (deploy refuses rather than guess)."""
    problems: list[str] = []
    for product in catalogue:
        where = f"{product.name!r} ({product.polar_product_id})"
        if product.placeholder:
            problems.append(f"{where}: the id is still a placeholder; put your Polar product's id in the catalogue")
            continue
        try:
            remote = client.products.get(id=product.polar_product_id)
        except ResourceNotFound:
            problems.append(f"{where}: Polar has no such product")
            continue
        except PolarError as exc:
            problems.append(f"{where}: could not be read from Polar ({type(exc).__name__})")
            continue
        if remote.is_archived:
            problems.append(f"{where}: the product is archived on Polar")
        if remote.is_recurring != (product.kind == "subscription"):
            polar_kind = "a subscription" if remote.is_recurring else "a one-time purchase"
            problems.append(f"{where}: the catalogue says {product.kind}, Polar sells {polar_kind}")
        if product.price_amount is None:
            continue
        charged = [price for price in map(_charged, remote.prices) if price is not None]
        shown = (product.price_amount, product.price_currency or "")
        if shown not in charged:
            polar_says = ", ".join(f"{amount} {currency}" for amount, currency in charged) or "no fixed price"
            problems.append(
                f"{where}: the catalogue shows {shown[0]} {shown[1]}, Polar charges {polar_says} (amounts in cents)"
            )
    return problems
