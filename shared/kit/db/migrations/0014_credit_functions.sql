-- Credits: reserve and resolve (post / void) as database functions.
--
-- Each runs as one round trip, and PL/pgSQL keeps the plans of its statements for the life of the
-- session, which the client cannot do here (prepared statements stay off for Supabase's transaction
-- pooler). The rules are those of shared/credits/service.py, which validates the input and turns each
-- `outcome` into its error:
--   reserved | replayed     the hold (new, or the one this ref already placed for the same user and amount)
--   no_account              the user has no account
--   insufficient            fewer credits are available than asked, even after voiding the user's overdue holds
--   ref_conflict            the ref names a hold of another user or amount
--   resolved                the hold (credit_resolve)
--   not_found | already_resolved | invalid_amount   (credit_resolve)
--
-- Lock order, as everywhere else: the owner's credit_accounts row FOR UPDATE first, then the hold, then the
-- grant state rows. Every statement after that lock takes a new snapshot, so what it reads is final.

-- What both answer: an outcome and the hold it concerns (its columns null when there is none).
create type credit_hold_outcome as (
    outcome text, id uuid, user_id uuid, ref text, amount integer, status text, posted_amount integer,
    created_at timestamptz, expires_at timestamptz, resolved_at timestamptz
);

create function credit_hold_outcome_of(p_outcome text, p_hold credit_holds) returns credit_hold_outcome
language sql immutable as $$
    select p_outcome, p_hold.id, p_hold.user_id, p_hold.ref, p_hold.amount, p_hold.status, p_hold.posted_amount,
           p_hold.created_at, p_hold.expires_at, p_hold.resolved_at
$$;

create function credit_resolve(p_hold uuid, p_posted integer, p_now timestamptz)
returns credit_hold_outcome
language plpgsql as $$
-- p_posted: null voids, -1 posts everything, n (0 <= n <= amount) posts n and releases the rest.
declare
    v_now constant timestamptz := coalesce(p_now, now());
    v_outcome text;
    v_posted integer;
    v_left integer;
    v_spent integer;
    v_back integer;
    v_closed boolean;
    v_hold credit_holds;
    v_alloc record;
begin
    -- Only the immutable columns of this read are used: its status may be stale until the lock is held.
    select * into v_hold from credit_holds h where h.id = p_hold;
    if not found then
        return credit_hold_outcome_of('not_found', null);
    end if;
    perform 1 from credit_accounts a where a.user_id = v_hold.user_id for update;
    if not found then  -- the account went with an erasure after the read above
        return credit_hold_outcome_of('not_found', null);
    end if;
    v_posted := case when p_posted = -1 then v_hold.amount else p_posted end;
    if v_posted is not null and (v_posted < 0 or v_posted > v_hold.amount) then
        v_outcome := 'invalid_amount';
    else
        update credit_holds h
           set status = case when v_posted is null then 'voided' else 'posted' end,
               posted_amount = v_posted, resolved_at = v_now
         where h.id = p_hold and h.status = 'pending'
        returning * into v_hold;
        v_outcome := case when found then 'resolved' else 'already_resolved' end;
        if not found then
            select * into v_hold from credit_holds h where h.id = p_hold;
        end if;
    end if;
    if v_outcome <> 'resolved' then
        return credit_hold_outcome_of(v_outcome, v_hold);
    end if;
    -- Spend in the order the hold drew (soonest-expiring first); the rest goes back to its grant, or is
    -- revoked on return when a full revocation closed that grant meanwhile.
    v_left := coalesce(v_posted, 0);
    for v_alloc in
        select al.grant_id, al.amount from credit_hold_allocations al where al.hold_id = p_hold order by al.seq
    loop
        v_spent := least(v_alloc.amount, v_left);
        v_left := v_left - v_spent;
        v_back := v_alloc.amount - v_spent;
        update credit_grant_state s
           set spent = s.spent + v_spent,
               remaining = s.remaining + case when s.closed then 0 else v_back end,
               revoked = s.revoked + case when s.closed then v_back else 0 end
         where s.grant_id = v_alloc.grant_id
        returning s.closed into v_closed;
        if v_closed and v_back > 0 then
            insert into credit_ledger (user_id, type, amount, grant_id, hold_id, ref, created_at)
            values (v_hold.user_id, 'revoke', v_back, v_alloc.grant_id, p_hold, v_hold.ref, v_now);
        end if;
    end loop;
    if v_posted is null then
        insert into credit_ledger (user_id, type, amount, hold_id, ref, created_at)
        values (v_hold.user_id, 'void', v_hold.amount, p_hold, v_hold.ref, v_now);
    else
        insert into credit_ledger (user_id, type, amount, hold_id, ref, created_at)
        values (v_hold.user_id, 'post', v_posted, p_hold, v_hold.ref, v_now);
        if v_posted < v_hold.amount then
            insert into credit_ledger (user_id, type, amount, hold_id, ref, created_at)
            values (v_hold.user_id, 'release', v_hold.amount - v_posted, p_hold, v_hold.ref, v_now);
        end if;
    end if;
    return credit_hold_outcome_of(v_outcome, v_hold);
end;
$$;


create function credit_reserve(p_user uuid, p_amount integer, p_ref text, p_ttl interval, p_now timestamptz)
returns credit_hold_outcome
language plpgsql as $$
declare
    v_now constant timestamptz := coalesce(p_now, now());
    v_outcome text;
    v_available bigint;
    v_need integer;
    v_take integer;
    v_seq smallint := 0;
    v_hold credit_holds;
    v_grant record;
    v_overdue uuid;
    v_voided integer := 0;
begin
    perform 1 from credit_accounts a where a.user_id = p_user for update;
    if not found then  -- first use: create the credit row of an existing account
        insert into credit_accounts (user_id) select x.id from accounts x where x.id = p_user on conflict do nothing;
        perform 1 from credit_accounts a where a.user_id = p_user for update;
        if not found then
            return credit_hold_outcome_of('no_account', null);
        end if;
    end if;

    select coalesce(sum(s.remaining), 0) into v_available from credit_grant_state s
     where s.user_id = p_user and s.remaining > 0 and (s.expires_at is null or s.expires_at > v_now);
    if v_available < p_amount then
        -- Off the hot path: a replay of a hold already placed, else free the user's own overdue holds.
        select * into v_hold from credit_holds h where h.ref = p_ref;
        if found then
            v_outcome := case when v_hold.user_id = p_user and v_hold.amount = p_amount
                            then 'replayed' else 'ref_conflict' end;
            return credit_hold_outcome_of(v_outcome, v_hold);
        end if;
        for v_overdue in
            select h.id from credit_holds h
             where h.user_id = p_user and h.status = 'pending' and h.expires_at <= v_now
             order by h.expires_at limit 1000
        loop
            perform credit_resolve(v_overdue, null, p_now);
            v_voided := v_voided + 1;
        end loop;
        if v_voided > 0 then
            select coalesce(sum(s.remaining), 0) into v_available from credit_grant_state s
             where s.user_id = p_user and s.remaining > 0 and (s.expires_at is null or s.expires_at > v_now);
        end if;
        if v_available < p_amount then
            return credit_hold_outcome_of('insufficient', null);
        end if;
    end if;

    insert into credit_holds as h (user_id, ref, amount, created_at, expires_at)
    values (p_user, p_ref, p_amount, v_now, v_now + p_ttl)
    on conflict (ref) do nothing
    returning * into v_hold;
    if not found then  -- this ref placed a hold already: the same request again, or a conflict
        select * into v_hold from credit_holds h where h.ref = p_ref;
        v_outcome := case when not found then 'ref_conflict'  -- that hold went with an erasure meanwhile
                        when v_hold.user_id = p_user and v_hold.amount = p_amount then 'replayed'
                        else 'ref_conflict' end;
        return credit_hold_outcome_of(v_outcome, v_hold);
    end if;

    -- Draw soonest-expiring credit first, never-expiring last, then oldest first.
    v_need := p_amount;
    for v_grant in
        select s.grant_id, s.remaining from credit_grant_state s
         where s.user_id = p_user and s.remaining > 0 and (s.expires_at is null or s.expires_at > v_now)
         order by s.expires_at asc nulls last, s.created_at, s.grant_id
    loop
        v_take := least(v_grant.remaining, v_need);
        insert into credit_hold_allocations (hold_id, seq, grant_id, user_id, amount)
        values (v_hold.id, v_seq, v_grant.grant_id, p_user, v_take);
        update credit_grant_state s set remaining = s.remaining - v_take where s.grant_id = v_grant.grant_id;
        v_seq := v_seq + 1;
        v_need := v_need - v_take;
        exit when v_need = 0;
    end loop;
    if v_need <> 0 then  -- cannot happen under the account lock; refuse rather than store a short hold
        raise exception 'credit hold % drew % of % credits', v_hold.id, p_amount - v_need, p_amount;
    end if;
    insert into credit_ledger (user_id, type, amount, hold_id, ref, created_at)
    values (p_user, 'hold', p_amount, v_hold.id, p_ref, v_now);
    return credit_hold_outcome_of('reserved', v_hold);
end;
$$;

-- Only the backend's own role calls these: not the Data API's roles on Supabase, nor anyone by default.
revoke all on function credit_resolve(uuid, integer, timestamptz) from public;
revoke all on function credit_reserve(uuid, integer, text, interval, timestamptz) from public;
do $$
declare
    r text;
begin
    foreach r in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = r) then
            execute format('revoke all on function credit_resolve(uuid, integer, timestamptz) from %I', r);
            execute format('revoke all on function credit_reserve(uuid, integer, text, interval, timestamptz) from %I', r);
        end if;
    end loop;
end;
$$;
