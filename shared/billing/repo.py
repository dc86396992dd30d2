"""SQL for the billing tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from config.values import value
from shared.kit.db.database import Connection


def lock_order(conn: Connection, polar_order_id: str) -> None:
    """Serialise every change about one order (payment, refunds, reconciliation), even before its row exists."""
    conn.execute("select pg_advisory_xact_lock(hashtextextended('billing-order:' || %s, 0))", (polar_order_id,))


def account_exists(conn: Connection, user_id: UUID) -> bool:
    return conn.execute("select 1 from accounts where id = %s", (user_id,)).fetchone() is not None


# --- inbox -----------------------------------------------------------------------------------------


_CLAIM = """
with claimed as (
    insert into billing_webhook_inbox (webhook_id, event_type, payload, external_customer_id, signed_at, status)
    values (%(webhook_id)s, %(event_type)s, %(payload)s, %(external_customer_id)s, %(signed_at)s, 'received')
    on conflict (webhook_id) do nothing
    returning id, status, attempts
)
select c.id, c.status, c.attempts, true as claimed,
       (select true from (select pg_advisory_xact_lock(hashtextextended('billing-order:' || %(lock)s, 0))) l
         where %(lock)s::text is not null) as order_locked
  from claimed c
union all
select i.id, i.status, i.attempts, false, null
  from billing_webhook_inbox i
 where i.webhook_id = %(webhook_id)s and not exists (select from claimed)
"""


def claim_delivery(
    conn: Connection,
    *,
    webhook_id: str,
    event_type: str | None,
    document: dict[str, Any],
    external_customer_id: str | None,
    signed_at: datetime,
    lock_order: str | None = None,
) -> dict[str, Any] | None:
    """Insert the delivery as `received` (`claimed` true), taking the lock of the order it is about (`lock_order`,
    as `lock_order` does) in the same statement; or, when this webhook-id is in the inbox already, that row
    (`claimed` false, read without a lock). None when the row exists but this statement's snapshot could not see
    it: a concurrent delivery of the same id committed it while this one waited on the unique index (then
    `lock_delivery` reads it).

    A concurrent delivery of the same id waits here on the unique index until the first one commits. The lock is
    taken after the insert, as before (inbox row, then order): a later statement's snapshot sees every change made
    under it; this statement reads nothing it guards."""
    return conn.execute(
        _CLAIM,
        {
            "webhook_id": webhook_id,
            "event_type": event_type,
            "payload": Jsonb(document),
            "external_customer_id": external_customer_id,
            "signed_at": signed_at,
            "lock": lock_order,
        },
    ).fetchone()


def lock_delivery(conn: Connection, webhook_id: str) -> dict[str, Any] | None:
    return conn.execute(
        "select id, status, attempts from billing_webhook_inbox where webhook_id = %s for update", (webhook_id,)
    ).fetchone()


def finish_delivery(conn: Connection, inbox_id: UUID, *, status: str, note: str | None, retry: bool) -> None:
    conn.execute(
        """update billing_webhook_inbox
              set status = %s, note = %s, processed_at = now(), attempts = attempts + %s
            where id = %s""",
        (status, note, 1 if retry else 0, inbox_id),
    )


def record_failure(
    conn: Connection,
    *,
    webhook_id: str,
    event_type: str | None,
    document: dict[str, Any],
    external_customer_id: str | None,
    signed_at: datetime,
    note: str,
) -> None:
    """After a rolled-back attempt: remember that it failed (and why, by error class) for operators."""
    conn.execute(
        """insert into billing_webhook_inbox
               (webhook_id, event_type, payload, external_customer_id, signed_at, status, note)
           values (%s, %s, %s, %s, %s, 'failed', %s)
           on conflict (webhook_id) do update
               set attempts = billing_webhook_inbox.attempts + 1, note = excluded.note
             where billing_webhook_inbox.status = 'failed'""",
        (webhook_id, event_type, Jsonb(document), external_customer_id, signed_at, note),
    )


def unmatched_for(conn: Connection, external_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        """select id, webhook_id, payload from billing_webhook_inbox
            where status = 'unmatched' and external_customer_id = %s
            order by signed_at, received_at
            for update skip locked""",
        (external_id,),
    ).fetchall()


def unmatched_with_account(conn: Connection, limit: int) -> list[str]:
    """External ids of unmatched deliveries whose account now exists."""
    rows = conn.execute(
        """select distinct i.external_customer_id as ext
             from billing_webhook_inbox i
             join accounts a on a.id::text = i.external_customer_id
            where i.status = 'unmatched'
            limit %s""",
        (limit,),
    ).fetchall()
    return [row["ext"] for row in rows]


def list_inbox(conn: Connection, status: str, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        """select webhook_id, event_type, status, note, attempts, received_at, processed_at,
                  payload -> 'data' ->> 'id' as object_id
             from billing_webhook_inbox where status = %s
            order by received_at limit %s""",
        (status, limit),
    ).fetchall()


# --- orders ----------------------------------------------------------------------------------------


def get_order(conn: Connection, polar_order_id: str) -> dict[str, Any] | None:
    return conn.execute("select * from billing_orders where polar_order_id = %s", (polar_order_id,)).fetchone()


@value
class InboxMark:
    """The inbox row a statement marks as it ends (as `finish_delivery` does), saving that statement's round trip."""

    inbox_id: UUID
    status: str
    note: str | None
    retry: bool


def _mark(condition: str = "true") -> str:
    """A CTE marking the `mark_*` parameters' inbox row, when `condition` holds."""
    return f"""mark as (
    update billing_webhook_inbox
       set status = %(mark_status)s, note = %(mark_note)s, processed_at = now(), attempts = attempts + %(mark_retry)s
     where id = %(mark_id)s and {condition}
)"""


def _mark_values(mark: InboxMark | None) -> dict[str, Any]:
    if mark is None:  # the update matches no row
        return {"mark_id": None, "mark_status": None, "mark_note": None, "mark_retry": 0}
    return {"mark_id": mark.inbox_id, "mark_status": mark.status, "mark_note": mark.note, "mark_retry": int(mark.retry)}


def paid_order_state(
    conn: Connection,
    polar_order_id: str,
    *,
    user_id: UUID | None,
    status: str,
    polar_refunded_amount: int,
    mark: InboxMark | None = None,
) -> dict[str, Any]:
    """One statement for a paid order about to be applied (the caller holds the order's lock): an order applied
    already (`grant_state` not pending) gets Polar's status and refunded figure (`refreshed` true, as
    `update_order_status`) and then `mark` is applied to its delivery's inbox row; otherwise its `grant_state` (None:
    first sight), whether `user_id`'s account exists (`account_exists`) and the database's `now`."""
    row = conn.execute(
        f"""with refreshed as (
               update billing_orders
                  set status = %(status)s,
                      polar_refunded_amount = greatest(polar_refunded_amount, %(refunded)s), updated_at = now()
                where polar_order_id = %(order)s and grant_state <> 'pending'
            returning grant_state
           ), {_mark("exists (select from refreshed)")}
           select exists (select from refreshed) as refreshed,
                  coalesce((select grant_state from refreshed),
                           (select grant_state from billing_orders where polar_order_id = %(order)s)) as grant_state,
                  exists (select from accounts where id = %(user)s) as account_exists,
                  now() as now""",
        {"order": polar_order_id, "user": user_id, "status": status, "refunded": polar_refunded_amount}
        | _mark_values(mark),
    ).fetchone()
    if row is None:
        raise RuntimeError("paid_order_state answered nothing")
    return row


def upsert_order(conn: Connection, values: dict[str, Any], *, mark: InboxMark | None = None) -> dict[str, Any]:
    """Record the order (first sight) or refresh what Polar reports about it; our grant columns are kept
    unless the caller decides them (`grant_state` moves pending -> granted | none only).

    `customer_ref` is computed here from `customer_subject`: sha256 of the audit key and the subject, the same as
    `shared.audit.subject_ref`. The row comes back with `unsettled_refunds`, how many of the order's recorded refunds
    are not applied yet (the caller holds the order's lock: none is recorded meanwhile). `mark`: the inbox row of
    the delivery being applied, marked in the same statement."""
    row = conn.execute(
        f"""with {_mark()}
           insert into billing_orders (polar_order_id, user_id, customer_ref, polar_product_id, product_kind,
                   polar_subscription_id, billing_reason, status, currency, net_amount, tax_amount, total_amount,
                   polar_refunded_amount, credits, grant_state, grant_ref, credits_expire_at, ordered_at)
           values (%(polar_order_id)s, %(user_id)s,
                   (select encode(sha256(convert_to(key || ':' || %(customer_subject)s, 'UTF8')), 'hex')
                      from audit_pseudonym_key),
                   %(polar_product_id)s, %(product_kind)s,
                   %(polar_subscription_id)s, %(billing_reason)s, %(status)s, %(currency)s, %(net_amount)s,
                   %(tax_amount)s, %(total_amount)s, %(polar_refunded_amount)s, %(credits)s, %(grant_state)s,
                   %(grant_ref)s, %(credits_expire_at)s, %(ordered_at)s)
           on conflict (polar_order_id) do update set
               user_id = coalesce(billing_orders.user_id, excluded.user_id),
               status = excluded.status,
               polar_refunded_amount = greatest(billing_orders.polar_refunded_amount, excluded.polar_refunded_amount),
               credits = case when billing_orders.grant_state = 'pending' then excluded.credits
                              else billing_orders.credits end,
               grant_state = case when billing_orders.grant_state = 'pending' then excluded.grant_state
                                  else billing_orders.grant_state end,
               grant_ref = case when billing_orders.grant_state = 'pending' then excluded.grant_ref
                                else billing_orders.grant_ref end,
               credits_expire_at = case when billing_orders.grant_state = 'pending' then excluded.credits_expire_at
                                        else billing_orders.credits_expire_at end,
               updated_at = now()
           returning *, (select count(*) from billing_refunds r
                          where r.polar_order_id = billing_orders.polar_order_id and r.applied_at is null)
                        as unsettled_refunds""",
        values | _mark_values(mark),
    ).fetchone()
    if row is None:
        raise RuntimeError("order upsert returned nothing")
    return row


def update_order_status(conn: Connection, polar_order_id: str, *, status: str, polar_refunded_amount: int) -> bool:
    row = conn.execute(
        """update billing_orders
              set status = %s, polar_refunded_amount = greatest(polar_refunded_amount, %s), updated_at = now()
            where polar_order_id = %s returning polar_order_id""",
        (status, polar_refunded_amount, polar_order_id),
    ).fetchone()
    return row is not None


def add_refunded(conn: Connection, polar_order_id: str, amount: int) -> None:
    conn.execute(
        """update billing_orders set refunded_amount = refunded_amount + %s, updated_at = now()
            where polar_order_id = %s""",
        (amount, polar_order_id),
    )


def granted_order_ids(conn: Connection, polar_order_ids: list[str]) -> set[str]:
    """Of these orders, the ones that need nothing more (granted, or nothing to grant)."""
    rows = conn.execute(
        "select polar_order_id from billing_orders where polar_order_id = any(%s) and grant_state <> 'pending'",
        (polar_order_ids,),
    ).fetchall()
    return {row["polar_order_id"] for row in rows}


# --- refunds ---------------------------------------------------------------------------------------


def insert_refund(
    conn: Connection, *, polar_refund_id: str, polar_order_id: str, amount: int, currency: str, revocation_ref: str
) -> bool:
    row = conn.execute(
        """insert into billing_refunds (polar_refund_id, polar_order_id, amount, currency, revocation_ref)
           values (%s, %s, %s, %s, %s) on conflict (polar_refund_id) do nothing returning polar_refund_id""",
        (polar_refund_id, polar_order_id, amount, currency, revocation_ref),
    ).fetchone()
    return row is not None


def unsettled_refunds(conn: Connection, polar_order_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        """select * from billing_refunds where polar_order_id = %s and applied_at is null
            order by recorded_at, polar_refund_id""",
        (polar_order_id,),
    ).fetchall()


def settle_refund(conn: Connection, polar_refund_id: str, revoked: int) -> None:
    conn.execute(
        "update billing_refunds set revoked = %s, applied_at = now() where polar_refund_id = %s",
        (revoked, polar_refund_id),
    )


# --- subscriptions ---------------------------------------------------------------------------------


def upsert_subscription(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(
        """insert into billing_subscriptions (polar_subscription_id, user_id, polar_product_id, status,
                   cancel_at_period_end, current_period_end, canceled_at, ended_at, event_at)
           values (%(polar_subscription_id)s, %(user_id)s, %(polar_product_id)s, %(status)s,
                   %(cancel_at_period_end)s, %(current_period_end)s, %(canceled_at)s, %(ended_at)s, %(event_at)s)
           on conflict (polar_subscription_id) do update set
               status = excluded.status, cancel_at_period_end = excluded.cancel_at_period_end,
               current_period_end = excluded.current_period_end, canceled_at = excluded.canceled_at,
               ended_at = excluded.ended_at, event_at = excluded.event_at, updated_at = now()
             where billing_subscriptions.event_at <= excluded.event_at""",
        values,
    )


def has_unmatched(conn: Connection, user_id: UUID) -> bool:
    row = conn.execute(
        "select 1 from billing_webhook_inbox where status = 'unmatched' and external_customer_id = %s limit 1",
        (str(user_id),),
    ).fetchone()
    return row is not None
