-- Policy versions, acceptances, notices and their emails, consent events, onboarding and age, usage
-- analytics, the security log (device and connection data) and the short-lived under-13 block list.

-- Immutable policy texts. The cookie banner's notice is the privacy policy itself (kind 'privacy'):
-- its cookie section is what a consent event points at, by version and text hash.
create table policy_versions (
    id uuid primary key default gen_random_uuid(),
    kind text not null check (kind in ('privacy', 'terms')),
    version integer not null check (version >= 1),
    effective_at timestamptz not null,
    text_sha256 text not null check (text_sha256 ~ '^[0-9a-f]{64}$'),
    material boolean not null,
    text text not null,
    created_at timestamptz not null default now(),
    unique (kind, version)
);
alter table policy_versions enable row level security;
create trigger policy_versions_append_only before update or delete on policy_versions
    for each row execute function atelier_refuse_change();

-- Which exact version a user accepted, and when. Append-only: a new version adds a row.
create table policy_acceptances (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references accounts (id) on delete cascade,
    policy_version_id uuid not null references policy_versions (id),
    kind text not null check (kind in ('privacy', 'terms')),
    version integer not null,
    accepted_at timestamptz not null default now(),
    unique (user_id, policy_version_id)
);
alter table policy_acceptances enable row level security;
create index policy_acceptances_user on policy_acceptances (user_id, kind, version desc);
create trigger policy_acceptances_append_only before update or delete on policy_acceptances
    for each row execute function atelier_refuse_change();

-- In-app notices (one per user per published policy version).
create table notifications (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references accounts (id) on delete cascade,
    kind text not null,
    policy_version_id uuid references policy_versions (id),
    title text not null,
    body text not null,
    created_at timestamptz not null default now(),
    seen_at timestamptz,
    unique (user_id, policy_version_id)
);
alter table notifications enable row level security;
create index notifications_user_created on notifications (user_id, created_at desc, id desc);

-- Emails waiting for the sender adapter. The address is not copied here: it is read from the
-- account when the email is sent, so erasure or rectification of the account applies at once.
create table email_outbox (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references accounts (id) on delete cascade,
    template text not null,
    policy_version_id uuid references policy_versions (id),
    created_at timestamptz not null default now(),
    sent_at timestamptz,
    claimed_at timestamptz,
    attempts integer not null default 0,
    last_error text,
    unique (user_id, policy_version_id, template)
);
alter table email_outbox enable row level security;
create index email_outbox_pending on email_outbox (created_at) where sent_at is null;

-- Onboarding: when it completed and that the age check passed (never the birth date itself).
alter table accounts add column onboarded_at timestamptz;
alter table accounts add column age_verified_at timestamptz;
alter table accounts add column age_check text check (age_check in ('birth_date', 'declaration'));

-- Cookie-banner choices, signed in or not. Append-only; withdrawal is a new event with false.
create table consent_events (
    id uuid primary key default gen_random_uuid(),
    device_id text not null check (device_id ~ '^[A-Za-z0-9_-]{8,128}$'),
    user_id uuid references accounts (id) on delete cascade,
    categories jsonb not null,
    requested jsonb not null,
    gpc boolean not null default false,
    notice_policy_id uuid not null references policy_versions (id),
    notice_version integer not null,
    notice_sha256 text not null,
    ip_truncated text,
    user_agent_sha256 text,
    source text not null check (source in ('banner', 'device_link')),
    created_at timestamptz not null default clock_timestamp()
);
alter table consent_events enable row level security;
create index consent_events_device on consent_events (device_id, created_at desc);
create index consent_events_user on consent_events (user_id, created_at desc) where user_id is not null;
create trigger consent_events_append_only before update or delete on consent_events
    for each row execute function atelier_refuse_change();

-- Usage analytics, written only when can_process(..., 'analytics') allowed it.
create table analytics_events (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references accounts (id) on delete cascade,
    feature text not null,
    model text,
    aspect_ratio text,
    edit_action text,
    at timestamptz not null default now()
);
alter table analytics_events enable row level security;
create index analytics_events_user on analytics_events (user_id);

-- Device and connection data per authenticated request; after the retention period the IP is cut to
-- its /24 (IPv4) or /48 (IPv6) network and the raw user agent dropped (anonymised_at set).
create table security_log (
    id bigint generated always as identity primary key,
    user_id uuid not null references accounts (id) on delete cascade,
    at timestamptz not null default now(),
    ip inet,
    user_agent text,
    browser text,
    os text,
    device_type text,
    language text,
    screen text,
    method text not null,
    route text not null,
    anonymised_at timestamptz
);
alter table security_log enable row level security;
create index security_log_user on security_log (user_id, at desc);
create index security_log_pending_anonymisation on security_log (at) where anonymised_at is null;

-- Under-13 refusals: only a salted hash of the deleted user id, kept for a short time.
create table blocked_signups (
    subject_hash text primary key,
    blocked_at timestamptz not null default now(),
    expires_at timestamptz not null
);
alter table blocked_signups enable row level security;
