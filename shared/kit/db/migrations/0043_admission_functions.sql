-- The two statements a `POST /v1/jobs` sends besides job_admit, as PL/pgSQL functions (issue 34, item 1, fourth
-- pass): nothing is prepared through Supabase's transaction pooler, so a plain statement is parsed and planned on
-- every request (the analytics guard's insert ~0.1 ms, the dispatch mark ~0.05 ms of planning alone, on the
-- shared machine), while a PL/pgSQL function's statements keep their plans for the session's life. Same rows,
-- same answers as the statements they replace.

-- The analytics guard's insert (shared/access/guard.analytics_if_allowed): one usage event, written only when the
-- account is not held (restricted, awaiting erasure) and the consent in force turns analytics on (the account's
-- latest event, else the device's anonymous one, or one of this account's, on that device). The condition is
-- guard._CONSENTED_SQL with purpose 'analytics' (which `can_process` still evaluates as SQL text);
-- tests/integration/test_analytics_guard.py holds both to the parts they stand for. True when it wrote.
create function analytics_record_if_consented(
    p_user uuid, p_device text, p_feature text, p_model text, p_aspect_ratio text, p_edit_action text
) returns boolean
language plpgsql as $$
begin
    insert into analytics_events (user_id, feature, model, aspect_ratio, edit_action)
    select a.id, p_feature, p_model, p_aspect_ratio, p_edit_action
      from accounts a
     where a.id = p_user
       and a.restricted_at is null
       and not exists (select 1 from account_erasures e where e.user_id = a.id)
       and coalesce(
           (select coalesce(c.categories -> 'analytics' = 'true'::jsonb, false) from consent_events c
             where c.user_id = a.id order by c.created_at desc, c.id desc limit 1),
           (select coalesce(c.categories -> 'analytics' = 'true'::jsonb, false) from consent_events c
             where c.device_id = p_device and (c.user_id is null or c.user_id = a.id)
             order by c.created_at desc, c.id desc limit 1),
           false);
    return found;
end;
$$;

-- The dispatch mark (shared/jobs/repo.mark_dispatched_alone): the job was handed to a worker, so the reconciler
-- leaves it; its transaction commits without waiting for its WAL flush (a lost mark only means a second dispatch,
-- which the worker's claim turns away). Sent alone, on an autocommit connection, after the dispatch.
create function job_mark_dispatched(p_id uuid) returns void
language plpgsql as $$
begin
    perform set_config('synchronous_commit', 'off', true);
    update jobs set dispatched_at = now() where id = p_id and status = 'queued';
end;
$$;
