"""The daily repair: list recent paid orders from Polar and apply any that have no grant yet.

A lost `order.paid` webhook therefore costs nobody anything. The remote listing happens first, with no
transaction open; each order is then applied in its own short transaction through the same idempotent
effect the webhook uses (keyed on the order id), so a webhook and this task racing grant once.
It also applies unmatched deliveries whose account now exists (accounts created without a first call
through the API, which is where `ensure_account` applies them).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from polar.base import PolarError
from polar.v2026_10 import Polar
from polar.v2026_10.literals import OrderStatus
from polar.v2026_10.outputs import Order

from config.settings import get_settings
from shared.billing import service
from shared.billing.catalogue import Catalogue, load_catalogue
from shared.db import Database
from shared.errors import PaymentProviderError

log = logging.getLogger("atelier.billing")

PAGE_SIZE = 100
MAX_PAGES = 1000
PAID_STATUSES: list[OrderStatus] = ["paid", "partially_refunded"]


def paid_orders_since(client: Polar, since: datetime, *, page_size: int = PAGE_SIZE) -> list[Order]:
    """Every paid (or partly refunded) order created after `since`, oldest first, across all pages."""
    orders: list[Order] = []
    page = 1
    while page <= MAX_PAGES:
        try:
            result = client.orders.list(
                status=PAID_STATUSES,
                created_after=since.astimezone(UTC).isoformat(),
                page=page,
                limit=page_size,
                sorting=["created_at"],
            )
        except PolarError as exc:
            raise PaymentProviderError("Listing orders from Polar failed; the next run will retry.") from exc
        orders.extend(result.items)
        if not result.items or page >= result.pagination.max_page:
            break
        page += 1
    return orders


def sync_billing(db: Database, polar_client: Polar, *, since: datetime, catalogue: Catalogue | None = None) -> int:
    """Apply every paid order since `since` that has no grant yet; returns how many were granted now."""
    catalogue = catalogue or load_catalogue(get_settings().products_file)
    orders = paid_orders_since(polar_client, since)
    granted = 0
    for order in orders:
        with db.transaction() as conn:
            outcome = service.apply_paid_order(conn, order, catalogue=catalogue)
        if outcome.granted:
            granted += 1
            log.warning("reconciler granted an order no webhook had applied", extra={"polar_order_id": order.id})
    with db.transaction() as conn:
        waiting = service.unmatched_with_account(conn)
    for user_id in waiting:
        with db.transaction() as conn:
            service.apply_unmatched_for(conn, user_id, catalogue=catalogue)
    log.info("billing sync done", extra={"orders_seen": len(orders), "granted": granted, "accounts": len(waiting)})
    return granted
