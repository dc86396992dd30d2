-- Every data-map owner column leads an index (tests/integration/test_scale_plans.py checks it): export, erasure and
-- the account row's cascade read these tables by the account, and without one each read was a sequential scan of
-- the whole table, whose cost grew with every account's rows rather than with this one's.

-- Support messages and attachments were indexed only by their ticket and message.
create index support_messages_user on support_messages (user_id);
create index support_attachments_user on support_attachments (user_id);

-- Webhook deliveries were indexed by customer only while unmatched; export and erasure read them all. Deliveries that
-- name no customer (the column is null) stay out of it.
create index billing_webhook_inbox_customer on billing_webhook_inbox (external_customer_id)
    where external_customer_id is not null;
