-- Accounts: one row per Supabase Auth user, created from the token's claims on their first call.
-- Every table lives in the public schema with row-level security on and no policies, so Supabase's
-- Data API (anon / authenticated roles) can read none of it; only the backend's own role can.
create table accounts (
    id uuid primary key,
    email text,
    display_name text,
    full_name text,
    avatar_url text,
    created_at timestamptz not null default now(),
    last_active_at timestamptz not null default now()
);
alter table accounts enable row level security;

create index accounts_last_active_at on accounts (last_active_at);
