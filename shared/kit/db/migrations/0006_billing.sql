-- Billing with Polar (see shared/billing/service.py for the rules).
--
-- billing_webhook_inbox   every verified delivery, unique on Polar's webhook-id. History is fixed (the
--                         payload, ids and times never change); only the processing status moves:
--                         failed -> anything, unmatched/unparsed -> processed|ignored, processed and
--                         ignored are final. Deleted only during erasure.
-- billing_orders          orders are legal records: kept after erasure under a pseudonym
--                         (customer_ref = sha256(audit key || ':' || account id)); user_id is set to null
--                         when the account goes.
-- billing_refunds         each succeeded refund once (keyed on Polar's refund id) and the credits it revoked.
-- billing_subscriptions   the latest known state of each subscription, per account.

create table billing_webhook_inbox (
    id uuid primary key default gen_random_uuid(),
    webhook_id text not null unique check (length(webhook_id) between 1 and 200),
    event_type text check (length(event_type) <= 100),
    payload jsonb not null,
    -- customer.external_id (our account id as text) of an order/subscription event, to apply it when the
    -- account appears; null for events that name no customer.
    external_customer_id text check (length(external_customer_id) <= 200),
    signed_at timestamptz not null,
    received_at timestamptz not null default now(),
    -- received: claimed by the transaction applying it (never seen committed); failed: the last attempt
    -- raised and rolled back (recorded afterwards, for operators), the retry applies it.
    status text not null
        check (status in ('received', 'processed', 'ignored', 'unmatched', 'unparsed', 'failed')),
    note text check (length(note) <= 500),
    attempts integer not null default 1 check (attempts >= 1),
    processed_at timestamptz,
    check ((status in ('received', 'failed')) = (processed_at is null))
);
alter table billing_webhook_inbox enable row level security;
create index billing_webhook_inbox_waiting on billing_webhook_inbox (external_customer_id)
    where status = 'unmatched';
create index billing_webhook_inbox_status on billing_webhook_inbox (status, received_at);

create function billing_inbox_guard() returns trigger
language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        if coalesce(current_setting('atelier.erasing', true), '') = 'on' then
            return old;
        end if;
        raise exception 'billing_webhook_inbox rows are never deleted' using errcode = 'restrict_violation';
    end if;
    if new.id <> old.id or new.webhook_id <> old.webhook_id or new.event_type is distinct from old.event_type
       or new.payload <> old.payload or new.external_customer_id is distinct from old.external_customer_id
       or new.signed_at <> old.signed_at or new.received_at <> old.received_at then
        raise exception 'only the processing status of a webhook delivery may change'
            using errcode = 'restrict_violation';
    end if;
    if old.status in ('processed', 'ignored') then
        raise exception 'webhook delivery % is already %', old.webhook_id, old.status
            using errcode = 'restrict_violation';
    end if;
    if old.status in ('unmatched', 'unparsed') and new.status not in ('processed', 'ignored', old.status) then
        raise exception 'webhook delivery % cannot go from % to %', old.webhook_id, old.status, new.status
            using errcode = 'restrict_violation';
    end if;
    return new;
end;
$$;
create trigger billing_webhook_inbox_guard before update or delete on billing_webhook_inbox
    for each row execute function billing_inbox_guard();

create table billing_orders (
    polar_order_id text primary key check (length(polar_order_id) between 1 and 200),
    user_id uuid references accounts (id) on delete set null,
    customer_ref text not null,
    polar_product_id text,
    product_kind text check (product_kind in ('pack', 'subscription')),
    polar_subscription_id text,
    billing_reason text not null,
    status text not null,
    currency text not null check (length(currency) between 1 and 10),
    net_amount integer not null check (net_amount >= 0),
    tax_amount integer not null check (tax_amount >= 0),
    total_amount integer not null check (total_amount >= 0),
    polar_refunded_amount integer not null default 0 check (polar_refunded_amount >= 0),
    refunded_amount integer not null default 0 check (refunded_amount >= 0),
    credits integer not null default 0 check (credits >= 0),
    -- pending: waiting for the customer's account; granted: credits granted (grant_ref); none: nothing to grant
    grant_state text not null check (grant_state in ('pending', 'granted', 'none')),
    grant_ref text unique,
    credits_expire_at timestamptz,
    ordered_at timestamptz not null,
    recorded_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check ((grant_state = 'granted') = (grant_ref is not null))
);
alter table billing_orders enable row level security;
create index billing_orders_user on billing_orders (user_id);
create index billing_orders_customer_ref on billing_orders (customer_ref);

create table billing_refunds (
    polar_refund_id text primary key check (length(polar_refund_id) between 1 and 200),
    polar_order_id text not null,  -- no foreign key: a refund may arrive before its order
    amount integer not null check (amount >= 0),
    currency text not null,
    revocation_ref text not null unique,
    revoked integer check (revoked >= 0),  -- credits revoked; null until the order's grant is settled
    recorded_at timestamptz not null default now(),
    applied_at timestamptz,
    check ((revoked is null) = (applied_at is null))
);
alter table billing_refunds enable row level security;
create index billing_refunds_order on billing_refunds (polar_order_id, recorded_at);

create table billing_subscriptions (
    polar_subscription_id text primary key check (length(polar_subscription_id) between 1 and 200),
    user_id uuid not null references accounts (id) on delete cascade,
    polar_product_id text,
    status text not null,
    cancel_at_period_end boolean not null,
    current_period_end timestamptz,
    canceled_at timestamptz,
    ended_at timestamptz,
    event_at timestamptz not null,  -- the webhook's own timestamp: an older event never overwrites newer state
    updated_at timestamptz not null default now()
);
alter table billing_subscriptions enable row level security;
create index billing_subscriptions_user on billing_subscriptions (user_id);
