-- One row per scheduled task: the due time its last claimed run covered, and the lease of the run in progress.
-- A tick (Modal Cron or the local scheduler) claims a due task with one conditional upsert, so two overlapping
-- ticks never start the same task twice, and a task whose run still holds the lease is not started again.
create table task_schedule (
    task text primary key,
    last_due timestamptz,
    run_id uuid,
    lease_until timestamptz,
    check ((run_id is null) = (lease_until is null))
);
alter table task_schedule enable row level security;
