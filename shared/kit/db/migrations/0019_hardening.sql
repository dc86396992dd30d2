-- Hardening (issue 18).

-- An under-13 refusal runs the same erasure steps as any account, at once; it keeps no tombstone
-- (only the short-lived block hash in blocked_signups), so the erasure row says which kind it is.
alter table account_erasures add column underage boolean not null default false;

-- The worker's liveness: set when a job is claimed and with every progress report. The reconciler fails a
-- running job whose heartbeat is older than a minute (its worker died), returning its credits.
alter table jobs add column heartbeat_at timestamptz;
create index jobs_running_heartbeat on jobs (heartbeat_at) where status = 'running';
