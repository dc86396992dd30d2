-- The admission of a job in one statement (issue 34, item 1: `POST /v1/jobs`). The same rules and answers as
-- shared/jobs/service.submit had in three statements (the hold, the insert that looked the Idempotency-Key up and
-- counted the active jobs, and a refused request's look at the same two), which with BEGIN and COMMIT were five
-- round trips; the API now sends this function, and the analytics guard's insert after it, in one.
--
-- job_admit either inserts the job and answers it, or raises SQLSTATE 'JA001' (`admission refused`, the reason
-- in MESSAGE and its value in DETAIL) so that nothing it or a statement before it in the same transaction wrote
-- (the hold above all) is kept, and nothing sent after it in the same round trip runs:
--   replayed <job id>            the Idempotency-Key admitted that job before, with the same body
--   idempotency_key_reused       ... with another body
--   too_many_active_jobs <max>   the user has max jobs queued or running
--   insufficient | no_account | ref_conflict   what credit_reserve answered (402, 402, 409)
--   idempotency_key_busy         another transaction inserted the key and has not committed (only a submission
--                                that did not take the credit lock first could; none does)
-- in that order of precedence, the order the refusals had when each was checked before the hold.
--
-- The hold comes first: credit_reserve takes the user's credit-account lock (a free job takes it through
-- credit_lock), so one account's admissions run one at a time, and every statement after it takes a new snapshot
-- (PL/pgSQL, READ COMMITTED): the key's lookup and the active count see every admission committed before the lock
-- was granted, so both are exact. The statuses counted as active are written out, as in the partial index
-- jobs_user_active (migration 0026) that the count uses: shared/jobs/models.ACTIVE (a test keeps them equal).

-- The user's credit-account lock without a hold: what credit_reserve takes first, and Python's
-- shared/credits/repo.lock_account in one statement (the row is created on first use). False: no such account.
create function credit_lock(p_user uuid) returns boolean
language plpgsql as $$
begin
    perform 1 from credit_accounts a where a.user_id = p_user for update;
    if found then
        return true;
    end if;
    insert into credit_accounts (user_id) select x.id from accounts x where x.id = p_user on conflict do nothing;
    perform 1 from credit_accounts a where a.user_id = p_user for update;
    return found;
end;
$$;

-- What an admission reads under the lock: the Idempotency-Key's earlier job (none without a key) and the user's jobs
-- queued or running. A plain SQL function, so a caller's plan includes its statement (tests/integration/
-- test_scale_plans.py explains it: job_admit's own statements are out of EXPLAIN's sight).
create function job_admission_state(p_user uuid, p_key text)
returns table (existing_id uuid, existing_sha256 text, active bigint)
language sql stable as $$
    select e.id, e.request_sha256,
           (select count(*) from jobs a where a.user_id = p_user and a.status in ('queued', 'running'))
      from (select 1) as one
      left join jobs e on e.user_id = p_user and e.idempotency_key = p_key
$$;

create function job_admit(
    p_id uuid, p_user uuid, p_task text, p_model text, p_prompt text, p_params jsonb, p_image uuid, p_mask uuid,
    p_cost integer, p_seed bigint, p_key text, p_sha text, p_deadline interval, p_hold_ttl interval,
    p_max_active integer
) returns jobs
language plpgsql as $$
declare
    v_hold credit_hold_outcome;
    v_existing uuid;
    v_existing_sha text;
    v_active bigint;
    v_job jobs;
begin
    if p_cost > 0 then
        v_hold := credit_reserve(p_user, p_cost, 'job:' || p_id, p_hold_ttl, null);
    else
        perform credit_lock(p_user);
    end if;

    select s.existing_id, s.existing_sha256, s.active into v_existing, v_existing_sha, v_active
      from job_admission_state(p_user, p_key) s;
    if v_existing is not null then
        if v_existing_sha = p_sha then
            raise exception using errcode = 'JA001', message = 'replayed', detail = v_existing::text;
        end if;
        raise exception using errcode = 'JA001', message = 'idempotency_key_reused';
    end if;
    if p_max_active is not null and v_active >= p_max_active then
        raise exception using errcode = 'JA001', message = 'too_many_active_jobs', detail = p_max_active::text;
    end if;
    if p_cost > 0 and v_hold.outcome <> 'reserved' then  -- 'replayed' cannot be: the job's id is new
        raise exception using errcode = 'JA001', message = v_hold.outcome;
    end if;

    insert into jobs (id, user_id, task, model, prompt, params, image_id, mask_id, cost, seed, hold_id,
                      idempotency_key, request_sha256, deadline_at)
    values (p_id, p_user, p_task, p_model, p_prompt, p_params, p_image, p_mask, p_cost, p_seed,
            case when p_cost > 0 then v_hold.id end, p_key, p_sha, now() + p_deadline)
    on conflict (user_id, idempotency_key) where idempotency_key is not null do nothing
    returning * into v_job;
    if not found then
        raise exception using errcode = 'JA001', message = 'idempotency_key_busy';
    end if;
    return v_job;
end;
$$;
