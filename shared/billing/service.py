"""Billing rules: each verified Polar event is recorded once in the inbox and its effect applied in the
same transaction; orders, refunds and subscriptions are recorded; credits move through `shared.credits`.

Exactly once:
- the inbox is unique on Polar's `webhook-id`: a redelivery finds its row and changes nothing;
- one payment sends several events (and an operator may redeliver under a new id), so the effects are
  keyed on Polar's own ids as well: the grant on `polar:order:{order_id}`, each revocation on
  `polar:refund:{refund_id}`; every change about one order first takes a per-order advisory lock.

Effects:
- `order.paid`, pack product → a `purchase` grant of the catalogue's credits, never expiring;
- `order.paid`, subscription product with billing_reason subscription_create / subscription_cycle → a
  `subscription` grant expiring when that period ends: the order's embedded subscription's
  `current_period_end` (the period this payment opened). Should that be missing or not after the order's
  creation (a stale snapshot), the end is computed as order creation + the subscription's interval.
  A period already over when the order is applied (a very late reconciliation) grants nothing.
- other orders (unknown product, subscription_update, ...) are recorded with nothing to grant;
- `refund.created` / `refund.updated` with status succeeded → the refund is recorded once; its share of
  the order's credits is revoked from what is still unspent. Shares are cumulative and computed on the
  order's net amount (Polar's refund amounts exclude tax, like `net_amount`; the order's `total_amount`
  includes it): after refunds totalling R of net N, floor(credits · R / N) credits are meant to be
  revoked, and each refund revokes the difference it makes. A refund reaching N revokes everything left
  and closes the grant. A refund that arrives before its order waits and is settled when the order is.
- `order.refunded` / `order.updated` update the order's status and Polar's refunded figure; they revoke
  nothing themselves (they carry no refund id, so they could not tell a refund already applied from a
  new one; the refund events, and the reconciler's refund listing, do the revoking).
- `subscription.*` → the subscription's latest state per account; granted credits stay until they expire.
- a customer whose external id matches no account → inbox status `unmatched` (the order is recorded,
  nothing granted); applied when the account is created (`apply_unmatched_for`, called by account
  creation) or by the daily `sync-billing` task for accounts created any other way.
"""

from __future__ import annotations

import calendar
import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from polar.v2026_10.outputs import Order, Refund, Subscription
from polar.v2026_10.webhooks import (
    WebhookOrderPaidPayload,
    WebhookOrderRefundedPayload,
    WebhookOrderUpdatedPayload,
    WebhookPayload,
    WebhookRefundCreatedPayload,
    WebhookRefundUpdatedPayload,
    WebhookSubscriptionActivePayload,
    WebhookSubscriptionCanceledPayload,
    WebhookSubscriptionCreatedPayload,
    WebhookSubscriptionPastDuePayload,
    WebhookSubscriptionRevokedPayload,
    WebhookSubscriptionUncanceledPayload,
    WebhookSubscriptionUpdatedPayload,
)

from config.values import value
from shared.billing import repo
from shared.billing.catalogue import Catalogue, Product
from shared.billing.webhooks import METADATA_USER_KEY, Delivery, load_payload
from shared.credits import service as credit_service
from shared.kit.db.database import Connection

log = logging.getLogger("atelier.billing")

SUBSCRIPTION_REASONS = frozenset({"subscription_create", "subscription_cycle"})
_SUBSCRIPTION_EVENTS = (
    WebhookSubscriptionActivePayload,
    WebhookSubscriptionCanceledPayload,
    WebhookSubscriptionCreatedPayload,
    WebhookSubscriptionPastDuePayload,
    WebhookSubscriptionRevokedPayload,
    WebhookSubscriptionUncanceledPayload,
    WebhookSubscriptionUpdatedPayload,
)


@value
class Outcome:
    """What one event did: the inbox status it ends in (or `duplicate`), a short note, whether it granted."""

    status: str
    note: str | None = None
    granted: bool = False
    marked: bool = False  # the delivery's inbox row was marked with this outcome by the effect's last statement


def order_grant_ref(polar_order_id: str) -> str:
    return f"polar:order:{polar_order_id}"


def refund_revocation_ref(polar_refund_id: str) -> str:
    return f"polar:refund:{polar_refund_id}"


# --- the inbox -------------------------------------------------------------------------------------


def receive(conn: Connection, delivery: Delivery, *, catalogue: Catalogue) -> Outcome:
    """Record a verified delivery and apply its effect, in the caller's transaction.

    A webhook-id already processed (or ignored, unmatched, unparsed) → `duplicate`, nothing changes: one statement.
    A webhook-id whose earlier attempt failed is applied now. If this raises, the caller rolls back:
    neither the inbox row nor any effect remains (see `record_failure`).

    The inbox insert, the duplicate check and the order's lock are one statement (`repo.claim_delivery`); the
    effect then runs under that lock (`locked=True`: not taken a second time)."""
    order_key = _order_key(delivery.payload)
    row = repo.claim_delivery(
        conn,
        webhook_id=delivery.webhook_id,
        event_type=delivery.event_type,
        document=delivery.document,
        external_customer_id=delivery.external_customer_id,
        signed_at=delivery.signed_at,
        lock_order=order_key,
    )
    retry = False
    if row is not None and not row["claimed"] and row["status"] not in ("failed", "received"):
        return Outcome("duplicate", row["status"])
    if row is None or not row["claimed"]:
        existing = repo.lock_delivery(conn, delivery.webhook_id)
        if existing is None:  # the unique index said it exists; it cannot vanish (deletes are refused)
            raise RuntimeError("webhook delivery vanished")
        if existing["status"] not in ("failed", "received"):
            return Outcome("duplicate", existing["status"])
        inbox_id, retry = existing["id"], True
        if order_key is not None:
            repo.lock_order(conn, order_key)
    else:
        inbox_id = row["id"]
    if delivery.payload is None:
        outcome = Outcome("unparsed" if delivery.problem == "unparseable_payload" else "ignored", delivery.problem)
    else:
        outcome = apply_event(
            conn, delivery.payload, catalogue=catalogue, locked=order_key is not None, inbox=(inbox_id, retry)
        )
    if not outcome.marked:
        repo.finish_delivery(conn, inbox_id, status=outcome.status, note=outcome.note, retry=retry)
    return outcome


def _order_key(payload: WebhookPayload | None) -> str | None:
    """The Polar order whose lock `apply_event` takes for this payload (None: it takes none)."""
    if isinstance(payload, WebhookOrderPaidPayload | WebhookOrderRefundedPayload | WebhookOrderUpdatedPayload):
        return payload.data.id
    if isinstance(payload, WebhookRefundCreatedPayload | WebhookRefundUpdatedPayload) and (
        payload.data.status == "succeeded"
    ):
        return payload.data.order_id
    return None


def record_failure(conn: Connection, delivery: Delivery, error: BaseException) -> None:
    """In a fresh transaction after a failed attempt: the delivery as `failed`, noting the error's class only."""
    repo.record_failure(
        conn,
        webhook_id=delivery.webhook_id,
        event_type=delivery.event_type,
        document=delivery.document,
        external_customer_id=delivery.external_customer_id,
        signed_at=delivery.signed_at,
        note=f"{type(error).__name__}: {getattr(error, 'code', '') or getattr(error, 'sqlstate', '') or ''}"[:500],
    )


def apply_event(
    conn: Connection,
    payload: WebhookPayload,
    *,
    catalogue: Catalogue,
    locked: bool = False,
    inbox: tuple[UUID, bool] | None = None,
) -> Outcome:
    """Apply one event's effect; `locked`: the caller holds the lock of the event's order already; `inbox`: the
    delivery's inbox row (id, whether this is a retry), which an effect may mark itself (`Outcome.marked`)."""
    event_at = _parse_time(payload.timestamp)
    if isinstance(payload, WebhookOrderPaidPayload):
        return apply_paid_order(conn, payload.data, catalogue=catalogue, locked=locked, inbox=inbox)
    if isinstance(payload, WebhookOrderRefundedPayload | WebhookOrderUpdatedPayload):
        return _order_changed(conn, payload.data, locked=locked)
    if isinstance(payload, WebhookRefundCreatedPayload | WebhookRefundUpdatedPayload):
        return apply_refund(conn, payload.data, locked=locked)
    if isinstance(payload, _SUBSCRIPTION_EVENTS):
        return _subscription(conn, payload.data, event_at=event_at)
    return Outcome("ignored", "event_type_not_handled")


# --- orders ----------------------------------------------------------------------------------------


def apply_paid_order(
    conn: Connection,
    order: Order,
    *,
    catalogue: Catalogue,
    locked: bool = False,
    inbox: tuple[UUID, bool] | None = None,
) -> Outcome:
    """The effect of a paid order (from `order.paid` or the reconciler); safe to run any number of times.
    `locked`: the caller holds the order's lock already; `inbox`: the delivery's inbox row (id, retry), marked with
    the outcome by the order's upsert when there is one."""
    if not locked:
        repo.lock_order(conn, order.id)
    external = _external_id(order.customer.external_id, order.metadata)
    candidate = _uuid(external)
    applied = Outcome("processed", "already_applied", marked=inbox is not None)
    state_row = repo.paid_order_state(
        conn,
        order.id,
        user_id=candidate,
        status=order.status,
        polar_refunded_amount=order.refunded_amount,
        mark=None if inbox is None else repo.InboxMark(inbox[0], applied.status, applied.note, inbox[1]),
    )
    if state_row["refreshed"]:
        return applied
    if not order.paid:
        return Outcome("ignored", "order_not_paid")

    user_id = candidate if state_row["account_exists"] else None
    product = catalogue.get(order.product_id)
    plan = _plan(order, product, now=state_row["now"])
    state, note = plan.state, plan.note
    if state == "granted" and user_id is None:
        state, note = "pending", "customer_has_no_account"
    grant_ref = order_grant_ref(order.id) if state == "granted" else None
    if state == "granted" and product is not None and user_id is not None:
        credit_service.grant(
            conn,
            user_id=user_id,
            amount=product.credits,
            kind="subscription" if product.kind == "subscription" else "purchase",
            source_ref=order_grant_ref(order.id),
            expires_at=plan.expires_at,
            reason=f"{product.name} (Polar order)",
        )
    if state == "pending":
        log.info("order for a customer without an account", extra={"polar_order_id": order.id})
        outcome = Outcome("unmatched", note)
    elif state == "none":
        outcome = Outcome("ignored" if note == "product_not_in_catalogue" else "processed", note)
    else:
        outcome = Outcome("processed", note, granted=True)
    mark = None
    if inbox is not None:
        mark = repo.InboxMark(inbox[0], outcome.status, outcome.note, inbox[1])
        outcome = dataclasses.replace(outcome, marked=True)
    row = repo.upsert_order(
        conn,
        {
            "polar_order_id": order.id,
            "user_id": user_id,
            "customer_subject": str(user_id) if user_id else external or f"polar:{order.customer_id}",
            "polar_product_id": order.product_id,
            "product_kind": product.kind if product else None,
            "polar_subscription_id": order.subscription_id,
            "billing_reason": order.billing_reason,
            "status": order.status,
            "currency": order.currency,
            "net_amount": order.net_amount,
            "tax_amount": order.tax_amount,
            "total_amount": order.total_amount,
            "polar_refunded_amount": order.refunded_amount,
            "credits": product.credits if product and state != "none" else 0,
            "grant_state": state,
            "grant_ref": grant_ref,
            "credits_expire_at": plan.expires_at if state != "none" else None,
            "ordered_at": _parse_time(order.created_at),
        },
        mark=mark,
    )
    _settle_refunds(conn, row)
    return outcome


@value
class _Plan:
    state: str  # granted | none
    note: str | None
    expires_at: datetime | None


def _plan(order: Order, product: Product | None, *, now: datetime) -> _Plan:
    if product is None:
        log.warning("paid order for a product not in the catalogue", extra={"polar_product_id": order.product_id})
        return _Plan("none", "product_not_in_catalogue", None)
    if product.kind == "pack":
        return _Plan("granted", None, None)
    if order.billing_reason not in SUBSCRIPTION_REASONS:
        return _Plan("none", f"no_credits_for_{order.billing_reason}", None)
    expires_at = period_end(order)
    if expires_at <= now:
        return _Plan("none", "period_already_over", None)
    return _Plan("granted", None, expires_at)


def period_end(order: Order) -> datetime:
    """When the credits of a subscription order expire: the end of the period that order paid for."""
    ordered_at = _parse_time(order.created_at)
    subscription = order.subscription
    if subscription is None:
        return _add_interval(ordered_at, "month", 1)
    end = _parse_time(subscription.current_period_end)
    if end > ordered_at:
        return end
    return _add_interval(ordered_at, subscription.recurring_interval, subscription.recurring_interval_count)


def _order_changed(conn: Connection, order: Order, *, locked: bool = False) -> Outcome:
    if not locked:
        repo.lock_order(conn, order.id)
    if repo.update_order_status(conn, order.id, status=order.status, polar_refunded_amount=order.refunded_amount):
        return Outcome("processed", "order_status_recorded")
    return Outcome("ignored", "order_not_recorded")


# --- refunds ---------------------------------------------------------------------------------------


def apply_refund(conn: Connection, refund: Refund, *, locked: bool = False) -> Outcome:
    """The effect of a refund event (or of the reconciler finding one); once per refund id. `locked`: the caller
    holds the lock of the refund's order already."""
    if refund.status != "succeeded":
        return Outcome("ignored", f"refund_{refund.status}")
    if not locked:
        repo.lock_order(conn, refund.order_id)
    recorded = repo.insert_refund(
        conn,
        polar_refund_id=refund.id,
        polar_order_id=refund.order_id,
        amount=refund.amount,
        currency=refund.currency,
        revocation_ref=refund_revocation_ref(refund.id),
    )
    if not recorded:
        return Outcome("processed", "refund_already_recorded")
    order = repo.get_order(conn, refund.order_id)
    if order is None:
        return Outcome("processed", "refund_waits_for_its_order")
    _settle_refunds(conn, order)
    return Outcome("processed", None)


def _settle_refunds(conn: Connection, order: dict[str, Any]) -> None:
    """Apply the order's recorded, unsettled refunds in the order they arrived (caller holds the order lock)."""
    if order["grant_state"] == "pending" or order.get("unsettled_refunds") == 0:
        return  # pending: settled once the order's credits are granted (or found to be none); or nothing to settle
    credits, net, cumulative = order["credits"], order["net_amount"], order["refunded_amount"]
    for refund in repo.unsettled_refunds(conn, order["polar_order_id"]):
        before, cumulative = cumulative, cumulative + refund["amount"]
        revoked = 0
        if order["grant_state"] == "granted" and credits > 0 and net > 0:
            full = cumulative >= net
            share = credits if full else credits * cumulative // net
            delta = share - min(credits, credits * before // net)
            if full or delta > 0:
                revoked = credit_service.revoke(
                    conn,
                    grant_source_ref=order["grant_ref"],
                    revocation_ref=refund["revocation_ref"],
                    amount=None if full else delta,
                    reason="refund",
                )
        repo.settle_refund(conn, refund["polar_refund_id"], revoked)
        repo.add_refunded(conn, order["polar_order_id"], refund["amount"])


# --- subscriptions ---------------------------------------------------------------------------------


def _subscription(conn: Connection, subscription: Subscription, *, event_at: datetime) -> Outcome:
    user_id = _account(conn, _external_id(subscription.customer.external_id, subscription.metadata))
    if user_id is None:
        return Outcome("unmatched", "customer_has_no_account")
    repo.upsert_subscription(
        conn,
        {
            "polar_subscription_id": subscription.id,
            "user_id": user_id,
            "polar_product_id": subscription.product_id,
            "status": subscription.status,
            "cancel_at_period_end": subscription.cancel_at_period_end,
            "current_period_end": _parse_time(subscription.current_period_end),
            "canceled_at": _parse_optional(subscription.canceled_at),
            "ended_at": _parse_optional(subscription.ended_at),
            "event_at": event_at,
        },
    )
    return Outcome("processed", f"subscription_{subscription.status}")


# --- customers without an account ------------------------------------------------------------------


def apply_unmatched_for(conn: Connection, user_id: UUID, *, catalogue: Catalogue) -> int:
    """Apply the unmatched deliveries that name this account (call once the account exists); returns
    how many were applied. Rows another transaction is applying right now are skipped, not waited for."""
    applied = 0
    for row in repo.unmatched_for(conn, str(user_id)):
        outcome = apply_event(conn, load_payload(row["payload"]), catalogue=catalogue)
        if outcome.status != "unmatched":
            repo.finish_delivery(conn, row["id"], status=outcome.status, note=outcome.note, retry=False)
            applied += 1
    return applied


def unmatched_with_account(conn: Connection, *, limit: int = 500) -> list[UUID]:
    return [UUID(value) for value in repo.unmatched_with_account(conn, limit)]


def list_inbox(conn: Connection, *, status: str = "unmatched", limit: int = 100) -> list[dict[str, Any]]:
    """Inbox rows in one status, oldest first (for operators: ids, types, notes; no personal data)."""
    return repo.list_inbox(conn, status, limit)


# --- helpers ---------------------------------------------------------------------------------------


def _external_id(external_id: str | None, metadata: dict[str, Any] | None) -> str | None:
    if external_id:
        return external_id
    value = (metadata or {}).get(METADATA_USER_KEY)
    return value if isinstance(value, str) and value else None


def _uuid(external_id: str | None) -> UUID | None:
    """Our account id, when the external id is one (its account may still not exist)."""
    if not external_id:
        return None
    try:
        return UUID(external_id)
    except ValueError:
        return None


def _account(conn: Connection, external_id: str | None) -> UUID | None:
    user_id = _uuid(external_id)
    return user_id if user_id is not None and repo.account_exists(conn, user_id) else None


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_optional(value: str | None) -> datetime | None:
    return _parse_time(value) if value else None


def _add_interval(start: datetime, interval: str, count: int) -> datetime:
    count = max(count, 1)
    if interval == "day":
        return start + timedelta(days=count)
    if interval == "week":
        return start + timedelta(weeks=count)
    months = count * (12 if interval == "year" else 1)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)
