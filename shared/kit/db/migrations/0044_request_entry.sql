-- The request path's admission statement (shared/lifecycle/entry.py, issue 34 item 1: `GET /v1/me`) as a PL/pgSQL
-- function: nothing is prepared through Supabase's transaction pooler, so the statement was parsed and planned on
-- every authenticated request (~0.4 ms of the backend's ~1.2 ms per request, measured side by side on the shared
-- machine; Postgres 18's plan cache for SQL functions cannot be relied on, Supabase runs 15/17), while a PL/pgSQL
-- function's statements keep their plans for the session's life.
--
-- The body is entry._statement with each `%(name)s` written `p_name`: the account with its standing
-- (standing.READ_SQL, each flag its own check's SQL), whether it is `plain` (entry._PLAIN_SQL), then the address's
-- check, the security log row and the account's check, each only when the one before admitted. A check whose
-- bucket is null (a budget turned off) answers admitted and counts nothing. The rules stay written in Python:
-- tests/integration/test_request_admission.py fails when this body and the statement Python builds differ, so a
-- change to one of the fragments comes with a migration that replaces this function (and Python still checks
-- every answer's `plain` against its own rule, entry.plain).
create function request_entry(
    p_account_id uuid,
    p_token_email text,
    p_block_hash text,
    p_now timestamptz,
    p_device_id text,
    p_locked_may boolean,
    p_gate_exempt boolean,
    p_log_0 uuid,
    p_log_1 text,
    p_log_2 text,
    p_log_3 text,
    p_log_4 text,
    p_log_5 text,
    p_log_6 text,
    p_log_7 text,
    p_log_8 text,
    p_log_9 text,
    p_ip_bucket text,
    p_ip_key text,
    p_ip_window integer,
    p_ip_limit integer,
    p_usr_bucket text,
    p_usr_key text,
    p_usr_window integer,
    p_usr_limit integer
) returns table (
    durability text,
    logged bigint,
    id uuid,
    email text,
    display_name text,
    full_name text,
    avatar_url text,
    created_at timestamptz,
    last_active_at timestamptz,
    blocked boolean,
    erasure_pending boolean,
    erasure_underway boolean,
    policy_pending boolean,
    onboarded_at timestamptz,
    suspended boolean,
    restricted boolean,
    stale boolean,
    device_link_due boolean,
    plain boolean,
    ip_allowed boolean,
    ip_admitted integer,
    ip_frees_at timestamptz,
    ip_now timestamptz,
    usr_allowed boolean,
    usr_admitted integer,
    usr_frees_at timestamptz,
    usr_now timestamptz
)
language plpgsql as $$
#variable_conflict use_column
begin
    return query
        with s as materialized (select s0.*, (not s0.stale and s0.email is not distinct from p_token_email and not
        s0.device_link_due and not s0.blocked and not s0.erasure_underway and not (s0.erasure_pending and not
        p_locked_may) and not (s0.policy_pending and not p_gate_exempt)) as plain from (select a.id, a.email,
        a.display_name, a.full_name, a.avatar_url, a.created_at, a.last_active_at, (exists (select 1 from
        blocked_signups b where b.subject_hash = p_block_hash and b.expires_at > now())) as blocked, (exists (select 1
        from account_erasures e where e.user_id = a.id)) as erasure_pending, (exists (select 1 from account_erasures e
        where e.user_id = a.id and (e.underage or e.attempts > 0))) as erasure_underway, (exists (with latest_material
        as ( select distinct on (kind) id, kind, version, effective_at, text_sha256, material, text, summary from
        policy_versions where material and effective_at <= p_now order by kind, version desc) select m.* from
        latest_material m where exists (select 1 from policy_acceptances pa where pa.user_id = a.id and pa.kind =
        m.kind) and not exists (select 1 from policy_acceptances pa where pa.user_id = a.id and pa.kind = m.kind and
        pa.version >= m.version))) as policy_pending, (a.onboarded_at) as onboarded_at, (a.suspended_at is not null) as
        suspended, (a.restricted_at is not null) as restricted, (a.last_active_at < now() - interval '1 hour') as stale,
        (exists (select 1 from consent_events e where e.device_id = p_device_id and e.user_id is null) and not exists
        (select 1 from consent_events l where l.device_id = p_device_id and l.user_id = a.id)) as device_link_due from
        accounts a where a.id = p_account_id) s0), ip as materialized (select * from atelier_rate_check(p_ip_bucket,
        p_ip_key, p_ip_window, p_ip_limit, null::timestamptz) where p_ip_bucket is not null and (select s.plain from s)
        union all select true, null::integer, null::timestamptz, null::timestamptz where not p_ip_bucket is not null and
        (select s.plain from s)), logged as (insert into security_log (user_id, ip, user_agent, browser, os,
        device_type, language, screen, method, route) select p_log_0, p_log_1::inet, p_log_2, p_log_3, p_log_4, p_log_5,
        p_log_6, p_log_7, p_log_8, p_log_9 from ip where ip.allowed and exists (select 1 from accounts a where a.id =
        p_log_0 for key share of a) returning 1), usr as materialized (select * from atelier_rate_check(p_usr_bucket,
        p_usr_key, p_usr_window, p_usr_limit, null::timestamptz) where p_usr_bucket is not null and exists (select 1
        from logged) union all select true, null::integer, null::timestamptz, null::timestamptz where not p_usr_bucket
        is not null and exists (select 1 from logged)) select set_config('synchronous_commit', 'off', true) as
        durability, (select count(*) from logged) as logged, s.*, ip.allowed as ip_allowed, ip.admitted as ip_admitted,
        ip.frees_at as ip_frees_at, ip.now as ip_now, usr.allowed as usr_allowed, usr.admitted as usr_admitted,
        usr.frees_at as usr_frees_at, usr.now as usr_now from (select) one left join s on true left join ip on true left
        join usr on true;
end;
$$;
