-- Email that leaves (issue 19): the outbox learns more templates, retries with backoff and records permanent
-- failures; support tickets can come from the contact form without an account; staff replies.

-- Outbox rows now name what they are about (an export, a support ticket or message) instead of copying it:
-- the address and every detail are read when the mail is sent, and a row goes with what it points at.
alter table email_outbox alter column user_id drop not null;
alter table email_outbox add column export_id uuid references exports (id) on delete cascade;
alter table email_outbox add column params jsonb not null default '{}';
alter table email_outbox add column next_attempt_at timestamptz not null default now();
alter table email_outbox add column claim uuid;  -- the delivery run that holds the row (with claimed_at)
alter table email_outbox add column failed_at timestamptz;  -- given up: permanent refusal, or out of attempts

-- Contact-form tickets have no account: the address given in the form is kept on the ticket only, and
-- goes when the ticket goes (retention, or the operator). Account tickets never store an address.
alter table support_tickets alter column user_id drop not null;
alter table support_tickets add column contact_email text
    check (contact_email is null or (char_length(contact_email) between 3 and 254 and contact_email !~ '[<>\r\n]'));
alter table support_tickets add column contact_name text check (char_length(contact_name) between 1 and 200);
alter table support_tickets add column topic text not null default 'general'
    check (topic in ('general', 'account', 'billing', 'privacy', 'other'));
alter table support_tickets add column source text not null default 'app' check (source in ('app', 'contact'));
alter table support_tickets add constraint support_tickets_owner check (
    (source = 'app' and user_id is not null and contact_email is null and contact_name is null)
    or (source = 'contact' and user_id is null and contact_email is not null)
);
create index support_tickets_open on support_tickets (updated_at) where status <> 'closed';
create index support_tickets_contact_updated on support_tickets (updated_at) where user_id is null;

-- Messages of a contact ticket belong to no account; staff replies are messages with author 'staff'.
alter table support_messages alter column user_id drop not null;

alter table email_outbox add column ticket_id uuid references support_tickets (id) on delete cascade;
alter table email_outbox add column support_message_id uuid references support_messages (id) on delete cascade;
alter table email_outbox add constraint email_outbox_recipient check (user_id is not null or ticket_id is not null);
update email_outbox set claimed_at = null where claim is null;  -- old-style claims lapse; rows are retried
alter table email_outbox add constraint email_outbox_claimed check ((claim is null) = (claimed_at is null));
create unique index email_outbox_export_once on email_outbox (export_id, template) where export_id is not null;
create unique index email_outbox_message_once on email_outbox (support_message_id, template)
    where support_message_id is not null;
create index email_outbox_ticket on email_outbox (ticket_id) where ticket_id is not null;
drop index email_outbox_pending;
create index email_outbox_due on email_outbox (next_attempt_at, created_at) where sent_at is null and failed_at is null;

-- A privacy request sent through the contact form enters the register with its own source; without an
-- account, its pseudonym is derived from the ticket id and `reference` names the ticket.
alter table privacy_requests drop constraint privacy_requests_source_check;
alter table privacy_requests add constraint privacy_requests_source_check
    check (source in ('api', 'operator', 'contact'));
