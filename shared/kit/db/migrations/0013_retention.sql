-- Retention and credit expiry (issue 9).
--
-- Expired credits already stop counting at `expires_at` (the balance ignores them). `expire-credits` also
-- books the expiry, so the user's history shows where the credits went: one `expire` ledger entry per grant
-- (a unique index makes a second one unstorable), and the grant's unspent remainder moves to `expired`.
alter table credit_ledger drop constraint credit_ledger_type_check;
alter table credit_ledger add constraint credit_ledger_type_check
    check (type in ('grant', 'hold', 'post', 'release', 'void', 'revoke', 'expire'));
create unique index credit_ledger_one_expiry on credit_ledger (grant_id) where type = 'expire';

alter table credit_grant_state add column expired integer not null default 0 check (expired >= 0);
alter table credit_grant_state add constraint credit_grant_state_expired_within
    check (remaining + spent + revoked + expired <= amount);
-- What `expire-credits` looks for: grants with an expiry and credits left.
create index credit_grant_state_expiring on credit_grant_state (expires_at)
    where remaining > 0 and expires_at is not null;

-- Retention sweeps claim due rows in time order.
create index billing_orders_ordered_at on billing_orders (ordered_at);
create index billing_refunds_recorded_at on billing_refunds (recorded_at);
create index blocked_signups_blocked_at on blocked_signups (blocked_at);
create index billing_webhook_inbox_received_at on billing_webhook_inbox (received_at);
