-- Provenance marks, moderation decisions, gallery reports, takedowns and account suspension (issue 21).

-- What the worker marked an output with: the IPTC digital source type and whether a signed C2PA manifest is
-- embedded. Uploads keep both empty: they are stored stripped of all metadata.
alter table media
    add column digital_source_type text,
    add column c2pa_manifest boolean not null default false,
    -- An operator's takedown: the item leaves the gallery at once and its owner cannot publish it again
    -- until it is restored. The reason is the operator's text shown to the owner.
    add column taken_down_at timestamptz,
    add column takedown_reason text check (takedown_reason is null or length(takedown_reason) <= 1000);

-- A suspended account keeps reading, exporting and deleting its data but cannot upload, generate,
-- publish or buy.
alter table accounts
    add column suspended_at timestamptz,
    add column suspension_reason text check (suspension_reason is null or length(suspension_reason) <= 1000);

-- An email that mirrors an in-app notice (takedown, suspension) renders that notice's title and text.
alter table email_outbox
    add column notification_id uuid references notifications (id) on delete cascade;

-- Every image moderation decision: what was checked, when, by which model, its score. Never the image.
create table moderation_decisions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references accounts (id) on delete cascade,
    stage text not null check (stage in ('output', 'upload', 'publish')),
    job_id uuid,
    media_id uuid,
    model text not null check (length(model) <= 200),
    category text,
    score real not null check (score >= 0 and score <= 1),
    threshold real not null,
    outcome text not null check (outcome in ('allowed', 'flagged', 'blocked')),
    created_at timestamptz not null default now()
);
alter table moderation_decisions enable row level security;
create index moderation_decisions_user on moderation_decisions (user_id, created_at desc);
create index moderation_decisions_flagged on moderation_decisions (created_at desc) where outcome <> 'allowed';

-- Reports of gallery items. The reporter is a keyed hash (of the account id, or of the address for an
-- anonymous report), so one reporter counts once per item and nobody's identity is stored.
create table gallery_reports (
    id uuid primary key default gen_random_uuid(),
    media_id uuid not null references media (id) on delete cascade,
    reporter_ref text not null check (length(reporter_ref) = 64),
    reason text not null check (reason in ('sexual', 'minor_safety', 'violence', 'hate', 'harassment',
                                            'illegal', 'copyright', 'privacy', 'spam', 'other')),
    details text check (details is null or length(details) <= 2000),
    created_at timestamptz not null default now(),
    unique (media_id, reporter_ref)
);
alter table gallery_reports enable row level security;
create index gallery_reports_media on gallery_reports (media_id, created_at desc);
