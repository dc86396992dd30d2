-- An exact rate limiter: per (bucket, hashed key) the times of the requests admitted in the last window (a
-- sliding log), so no window of the budget's length ever admits more than its limit. The fixed, epoch-aligned
-- windows of rate_limit_counters admitted up to twice the limit around a boundary; that table stays for
-- counting security events per window (one event per subject and window).
create table rate_limit_log (
    bucket text not null,
    key_hash text not null,
    window_seconds integer not null check (window_seconds > 0),
    admitted timestamptz[] not null,
    allowed boolean not null, -- whether the latest request was admitted
    expires_at timestamptz not null, -- the newest admission leaves the window then: the row holds nothing after
    primary key (bucket, key_hash)
);
alter table rate_limit_log enable row level security;

create index rate_limit_log_expires_at on rate_limit_log (expires_at);
