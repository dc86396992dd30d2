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
from shared.billing.catalogue import Product
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
