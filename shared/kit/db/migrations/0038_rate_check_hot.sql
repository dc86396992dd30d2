-- The rate limiter's check (0030) at less cost per request (issue 34: every API request makes two checks).
--
-- 1. The key's row is read and locked first; the insert is tried only when there is none (a key's first request):
--    the check began with `insert ... on conflict do nothing`, an index probe and a refused insertion on every
--    request but a key's first.
-- 2. Its update is HOT: `expires_at` (indexed, for the prune) moved with every admission, so every check wrote a
--    new entry in both of the table's indexes. It now moves only when the newest admission would outlive it, and
--    then further than it needs by the window or a minute, whichever is shorter, so a busy key's `expires_at`
--    changes about once per window or minute (a key's first admission sets it exactly, as before). A row may
--    therefore outlive its last admission's window by up to a minute before `prune-rate-limits` deletes it (the
--    retention rule `rate_limit_windows` allows 10 minutes; the limiter reads nothing from expires_at, the window
--    is searched by the admissions' own times). Room for the new version on the same page: fillfactor 70 (pages
--    written from now on).
-- Every answer is as before: admitted or not, the admissions in the window, when the oldest that counts leaves.
alter table rate_limit_log set (fillfactor = 70);

create or replace function atelier_rate_check(
    p_bucket text, p_key text, p_window integer, p_limit integer, p_now timestamptz
) returns table (allowed boolean, admitted integer, frees_at timestamptz, now timestamptz)
language plpgsql as $$
#variable_conflict use_column
declare
    v_now timestamptz := coalesce(p_now, now());
    v_span interval := make_interval(secs => p_window);
    v_log timestamptz[];
    v_expires timestamptz;
    v_n integer;
    v_lo integer;
    v_hi integer;
    v_mid integer;
    v_live integer;
begin
    select r.admitted, r.expires_at into v_log, v_expires
      from rate_limit_log r where r.bucket = p_bucket and r.key_hash = p_key for update;
    if not found then
        insert into rate_limit_log as r (bucket, key_hash, window_seconds, admitted, allowed, expires_at)
        values (p_bucket, p_key, p_window, array[v_now], true, v_now + v_span)
        on conflict (bucket, key_hash) do nothing;
        if found then
            return query select true, 1, null::timestamptz, v_now;
            return;
        end if;
        -- A concurrent first request of the key inserted it: wait for it, then read its log.
        select r.admitted, r.expires_at into v_log, v_expires
          from rate_limit_log r where r.bucket = p_bucket and r.key_hash = p_key for update;
    end if;
    v_n := coalesce(array_length(v_log, 1), 0);
    -- The first admission younger than the window (v_n + 1 when none is): v_log is in time order.
    v_lo := 1;
    v_hi := v_n + 1;
    while v_lo < v_hi loop
        v_mid := (v_lo + v_hi) / 2;
        if v_log[v_mid] > v_now - v_span then
            v_hi := v_mid;
        else
            v_lo := v_mid + 1;
        end if;
    end loop;
    v_log := v_log[v_lo:v_n];
    v_live := v_n - v_lo + 1;
    if v_live < p_limit then
        if v_live = 0 or v_log[v_live] <= v_now then
            v_log := v_log || v_now;
        else  -- a clock behind the log's newest admission (tests drive it): keep the order
            v_log := array(select a from unnest(v_log || v_now) a order by a);
        end if;
        if v_expires < v_now + v_span then  -- this admission would outlive the row: a little longer than it needs
            v_expires := v_now + v_span + least(v_span, interval '1 minute');
        end if;
        update rate_limit_log r
           set window_seconds = p_window, admitted = v_log, allowed = true, expires_at = v_expires
         where r.bucket = p_bucket and r.key_hash = p_key;
        return query select true, v_live + 1, null::timestamptz, v_now;
    else
        update rate_limit_log r
           set window_seconds = p_window, admitted = v_log, allowed = false
         where r.bucket = p_bucket and r.key_hash = p_key;
        return query select false, v_live, v_log[v_live - p_limit + 1] + v_span, v_now;
    end if;
end
$$;
