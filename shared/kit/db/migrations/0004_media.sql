-- Media: uploads, masks and generation outputs. The bytes live in private object storage under
-- users/{user_id}/...; this table holds what the history dashboard and the gallery show.
-- Deleting hides a row at once (deleted_at); a scheduled purge removes the object, then the row,
-- after purge_after. job_id gets its foreign key when the jobs table exists.
create table media (
    id uuid primary key,
    user_id uuid not null references accounts (id) on delete cascade,
    kind text not null check (kind in ('upload', 'output', 'mask')),
    job_id uuid,
    storage_key text not null unique,
    content_type text not null check (content_type in ('image/jpeg', 'image/png', 'image/webp')),
    width integer not null check (width > 0),
    height integer not null check (height > 0),
    bytes bigint not null check (bytes > 0),
    sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    task text,
    model text,
    prompt text,
    public boolean not null default false,
    published_at timestamptz,
    created_at timestamptz not null default now(),
    deleted_at timestamptz,
    purge_after timestamptz,
    -- keys are namespaced by their owner, so no row can point at another user's object
    constraint media_key_owned check (storage_key like 'users/' || user_id::text || '/%'),
    -- only outputs are ever published, a published row has a time, a deleted row is never public
    constraint media_publish_outputs_only check (not public or kind = 'output'),
    constraint media_published_at check (public = (published_at is not null)),
    constraint media_deleted_not_public check (deleted_at is null or not public),
    constraint media_trash check ((deleted_at is null) = (purge_after is null))
);
alter table media enable row level security;

create index media_history on media (user_id, created_at desc, id desc) where deleted_at is null;
create index media_gallery on media (published_at desc, id desc) where public and deleted_at is null;
create index media_purge on media (purge_after) where deleted_at is not null;
create index media_job on media (job_id) where job_id is not null;

-- Preferences: one row per account, created on first change; a missing row means the defaults.
-- Optional processing defaults to off; showing published outputs in the gallery defaults to on.
create table preferences (
    user_id uuid primary key references accounts (id) on delete cascade,
    analytics boolean not null default false,
    marketing_emails boolean not null default false,
    gallery_display boolean not null default true,
    service_improvement boolean not null default false,
    updated_at timestamptz not null default now()
);
alter table preferences enable row level security;
