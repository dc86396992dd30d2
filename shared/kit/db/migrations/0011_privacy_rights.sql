-- Privacy rights (issue 7): the requests register, restriction, erasure (lock, grace period, resumable
-- steps), erased-account tombstones, and account-level choices recorded as consent events.

-- The register of rights requests: every request, from the API or logged by an operator from an email,
-- with the one-month answer deadline. Kept after erasure under the audit pseudonym (user_id goes null).
create table privacy_requests (
    id uuid primary key default gen_random_uuid(),
    user_id uuid references accounts (id) on delete set null,
    subject_ref text not null,  -- sha256(audit key || ':' || account id), as in audit_log
    kind text not null
        check (kind in ('export', 'erasure', 'restriction', 'objection', 'rectification', 'access', 'other')),
    source text not null check (source in ('api', 'operator')),
    status text not null default 'open' check (status in ('open', 'completed', 'refused', 'withdrawn')),
    received_at timestamptz not null,
    due_at timestamptz not null,
    extended_at timestamptz,
    extension_reason text check (char_length(extension_reason) between 1 and 500),
    reference text check (char_length(reference) between 1 and 200),  -- e.g. the operator's mail thread id
    completed_at timestamptz,
    overdue_notified_at timestamptz,
    check (due_at > received_at),
    check ((status = 'open') = (completed_at is null)),
    check ((extended_at is null) = (extension_reason is null))
);
alter table privacy_requests enable row level security;
create index privacy_requests_user on privacy_requests (user_id, received_at desc);
create index privacy_requests_open_due on privacy_requests (due_at) where status = 'open';

-- Restriction: the data stays stored but nothing optional processes it (shared/privacy/guard.py).
alter table accounts add column restricted_at timestamptz;
alter table accounts add column restriction_reason text check (char_length(restriction_reason) between 1 and 500);
alter table accounts add constraint accounts_restriction_reason check (restricted_at is not null or restriction_reason is null);

-- Erasure: a row here means the account is locked (every token refused except reading /v1/me and
-- cancelling) and its gallery items withdrawn; after scheduled_for the erase-accounts task works through
-- the steps, recording each one done, under a lease so that two runs never work on one account at once.
create table account_erasures (
    user_id uuid primary key references accounts (id) on delete cascade,
    requested_at timestamptz not null,
    scheduled_for timestamptz not null,
    steps_done text[] not null default '{}',
    claim uuid,                -- the run working on it now
    lease_until timestamptz,   -- until when that claim holds; after a failure, when to retry

    attempts integer not null default 0 check (attempts >= 0),
    last_error text check (char_length(last_error) <= 200),
    check (scheduled_for >= requested_at),
    check (claim is null or lease_until is not null)
);
alter table account_erasures enable row level security;
create index account_erasures_due on account_erasures (scheduled_for);

-- Tombstones of erased accounts, by pseudonym only: a token issued before erasure stays valid at the
-- identity provider until it expires, and must not re-create the account.
create table erased_accounts (
    subject_ref text primary key,
    erased_at timestamptz not null
);
alter table erased_accounts enable row level security;

-- One record of consent choices: analytics, marketing and service improvement changed from the account
-- settings (PUT /v1/me/preferences) are consent events too (source 'account', no device). The
-- preferences table keeps only the gallery display choice, which is not a consent category.
alter table consent_events alter column device_id drop not null;
alter table consent_events drop constraint consent_events_source_check;
alter table consent_events add constraint consent_events_source_check
    check (source in ('banner', 'device_link', 'account'));
alter table consent_events add constraint consent_events_device_or_account
    check (device_id is not null or (source = 'account' and user_id is not null));
alter table preferences drop column analytics;
alter table preferences drop column marketing_emails;
alter table preferences drop column service_improvement;
