-- Rate-limit counters shared by every API container, and security events raised from them.
-- Keys and subjects are keyed hashes (HMAC): no raw IP address or account id is stored here.

-- One row per (bucket, hashed key, fixed window); the limiter's single upsert increments `hits`.
create table rate_limit_counters (
    bucket text not null,
    key_hash text not null,
    window_start timestamptz not null,
    window_seconds integer not null check (window_seconds > 0),
    hits integer not null default 1 check (hits > 0),
    expires_at timestamptz not null,
    primary key (bucket, key_hash, window_start)
);
alter table rate_limit_counters enable row level security;

create index rate_limit_counters_expires_at on rate_limit_counters (expires_at);

-- Repeated authentication failures or access denials from one address or for one account.
-- At most one event per (kind, subject, window): the unique key makes "once per window" a database fact.
create table security_events (
    id uuid primary key,
    at timestamptz not null default now(),
    kind text not null check (kind in ('auth_failures', 'access_denied')),
    subject_kind text not null check (subject_kind in ('ip', 'account')),
    subject_ref text not null,
    count integer not null check (count > 0),
    window_start timestamptz not null,
    window_seconds integer not null check (window_seconds > 0),
    details jsonb not null default '{}'::jsonb,
    unique (kind, subject_kind, subject_ref, window_start)
);
alter table security_events enable row level security;

create index security_events_at on security_events (at desc);
