-- The anonymised service-improvement dataset (issue 22). A version's images and manifest live in storage under
-- datasets/{version}/; these tables are the keyed link back to accounts, kept outside the dataset.

-- One row per dataset version. `revision` counts changes to its items; the manifest object in storage shows
-- `written_revision`. `claim`/`lease_until`: the one run (build or manifest rewrite) working on it.
create table improvement_datasets (
    version text primary key check (version ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    created_at timestamptz not null default now(),
    built_at timestamptz,
    revision bigint not null default 0,
    written_revision bigint not null default -1,
    claim uuid,
    lease_until timestamptz,
    check ((claim is null) = (lease_until is null))
);
alter table improvement_datasets enable row level security;

-- The keyed link table: each item's id and its owner and source image only as HMACs under a key that is not in
-- the database (ATELIER_DATASET_KEY). Withdrawal marks a row withdrawn (it leaves the manifest), deletes the
-- object, rewrites the manifest, and deletes the row last, so a run cut short is finished by the next one.
create table improvement_dataset_items (
    version text not null references improvement_datasets (version) on delete cascade,
    item_id text not null check (item_id ~ '^[0-9a-f]{64}$'),
    subject_ref text not null check (subject_ref ~ '^[0-9a-f]{64}$'),
    media_ref text not null check (media_ref ~ '^[0-9a-f]{64}$'),
    model text check (model is null or length(model) <= 200),
    task text check (task is null or length(task) <= 64),
    aspect_ratio text not null check (aspect_ratio ~ '^[0-9]{1,5}:[0-9]{1,5}$'),
    created_month text not null check (created_month ~ '^[0-9]{4}-[0-9]{2}$'),
    stored boolean not null default false,
    withdrawn_revision bigint,
    primary key (version, item_id),
    unique (version, media_ref)
);
alter table improvement_dataset_items enable row level security;
create index improvement_dataset_items_subject on improvement_dataset_items (subject_ref);
