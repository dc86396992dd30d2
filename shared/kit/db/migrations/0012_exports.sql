-- Data exports (the rights of access and portability). A request is a row; the build-exports task claims
-- pending rows (FOR UPDATE SKIP LOCKED, under a lease, so a crashed build is retried and two runs never build
-- the same export), writes a ZIP under users/{user_id}/exports/ and marks it ready with an expiry; the
-- expire-exports task deletes the object after that and marks the row expired.
--   pending  → building (claimed; lease_until set, attempts counted) → ready (storage_key, expires_at)
--   building → pending again when the lease lapses (a crash), or failed after too many attempts
--   ready    → expired (object deleted)
create table exports (
    id uuid primary key,
    user_id uuid not null references accounts (id) on delete cascade,
    status text not null default 'pending'
        check (status in ('pending', 'building', 'ready', 'failed', 'expired')),
    requested_at timestamptz not null default now(),
    -- the entry in the rights register, completed when the archive is ready
    request_id uuid references privacy_requests (id) on delete set null,
    attempts integer not null default 0 check (attempts >= 0),
    lease_until timestamptz,  -- a claimed build or expiry holds the row until then
    started_at timestamptz,
    finished_at timestamptz,
    storage_key text unique,
    bytes bigint check (bytes > 0),
    sha256 text check (sha256 ~ '^[0-9a-f]{64}$'),
    schema_version integer,
    expires_at timestamptz,
    expired_at timestamptz,
    error text check (length(error) <= 200),  -- an exception type, never a message with data in it
    constraint exports_key_owned check (storage_key like 'users/' || user_id::text || '/exports/%'),
    constraint exports_ready_complete check (
        status <> 'ready' or (storage_key is not null and expires_at is not null and finished_at is not null)
    ),
    constraint exports_building_leased check (status <> 'building' or lease_until is not null)
);
alter table exports enable row level security;

-- At most one open request per account: a second POST returns the open one.
create unique index exports_one_open on exports (user_id) where status in ('pending', 'building');
create index exports_claim on exports (requested_at) where status in ('pending', 'building');
create index exports_expiry on exports (expires_at) where status = 'ready';
create index exports_user on exports (user_id, requested_at desc);
