-- Every run of a scheduled task is recorded, so operators can see what ran, what it did and what failed.
create table task_runs (
    id uuid primary key,
    task text not null,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    items integer not null default 0 check (items >= 0),
    outcome text not null default 'running' check (outcome in ('running', 'succeeded', 'failed')),
    error text
);
alter table task_runs enable row level security;

create index task_runs_task_started on task_runs (task, started_at desc);
