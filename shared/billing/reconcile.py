"""The daily repair: list recent paid orders from Polar and apply any that have no grant yet, then
recent succeeded refunds, applying any not yet recorded (each once, keyed on its refund id).

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
from polar.v2026_10.outputs import Order, Refund

from config.settings import get_settings
from shared.billing import service
from shared.billing.catalogue import Catalogue, load_catalogue
from shared.kit.db import Database
from shared.kit.errors import PaymentProviderError

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


def succeeded_refunds_since(client: Polar, since: datetime, *, page_size: int = PAGE_SIZE) -> list[Refund]:
    """Succeeded refunds created after `since` (Polar offers no date filter: newest first until older)."""
    refunds: list[Refund] = []
    page = 1
    while page <= MAX_PAGES:
        try:
            result = client.refunds.list(succeeded=True, page=page, limit=page_size, sorting=["-created_at"])
        except PolarError as exc:
            raise PaymentProviderError("Listing refunds from Polar failed; the next run will retry.") from exc
        recent = [r for r in result.items if datetime.fromisoformat(r.created_at) >= since]
        refunds.extend(recent)
        if len(recent) < len(result.items) or not result.items or page >= result.pagination.max_page:
            break
        page += 1
    return list(reversed(refunds))


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
    refunds = succeeded_refunds_since(polar_client, since)
    for refund in refunds:
        with db.transaction() as conn:
            outcome = service.apply_refund(conn, refund)
        if outcome.note is None:
            log.warning("reconciler applied a refund no webhook had", extra={"polar_refund_id": refund.id})
    with db.transaction() as conn:
        waiting = service.unmatched_with_account(conn)
    for user_id in waiting:
        with db.transaction() as conn:
            service.apply_unmatched_for(conn, user_id, catalogue=catalogue)
    log.info(
        "billing sync done",
        extra={"orders": len(orders), "refunds": len(refunds), "granted": granted, "accounts": len(waiting)},
    )
    return granted
