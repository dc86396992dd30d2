-- Credits: fewer rows and statements per reserve + post (issue 34, item 4). The same rules and answers.
--
-- 1. A hold that draws all its credits from one grant (almost every hold: a job costs a few credits, a grant
--    holds hundreds) names that grant on its own row, `credit_holds.grant_id`, instead of in a
--    credit_hold_allocations row. A hold that draws from several grants keeps grant_id null and its
--    allocation rows in spend order, as before; holds placed before this migration are of that kind. So a
--    hold's draw is exactly one of: (grant_id, the hold's amount), or its allocation rows. Its readers are
--    credit_resolve (below), the credit expiry sweep (shared/credits/expiry.py) and the invariant tests.
--    grant_id is immutable like the hold's other columns (the resolve-once guard refuses a change).
-- 2. credit_reserve reads the live grants once: the draw walks them in spend order and finds out on the way
--    whether they suffice (it read their sum first, then walked them again), and it writes only once it
--    knows the hold can be placed.
-- 3. credit_resolve reads the hold and locks its owner's account in one statement (it took two).
-- Each cycle of reserve + post: 3 rows inserted where it was 4, 9 statements inside the functions where it
-- was 13. The per-grant check constraints (no overdraft is storable), the account lock taken first, the
-- resolve-once guard, the unique refs and every ledger entry stay as they were.

alter table credit_holds add column grant_id uuid;  -- see above; no key, as credit_hold_allocations (0033)

create or replace function credit_hold_guard() returns trigger
language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        if coalesce(current_setting('atelier.erasing', true), '') = 'on' then
            return old;
        end if;
        raise exception 'credit_holds rows are never deleted' using errcode = 'restrict_violation';
    end if;
    if old.status <> 'pending' then
        raise exception 'credit hold % is already %', old.id, old.status using errcode = 'restrict_violation';
    end if;
    if new.id <> old.id or new.user_id <> old.user_id or new.ref <> old.ref or new.amount <> old.amount
       or new.created_at <> old.created_at or new.expires_at <> old.expires_at
       or new.grant_id is distinct from old.grant_id then
        raise exception 'only the resolution of a credit hold may change' using errcode = 'restrict_violation';
    end if;
    return new;
end;
$$;

drop trigger credit_holds_resolve_once on credit_holds;
create trigger credit_holds_resolve_once before update on credit_holds
    for each row
    when (old.status <> 'pending'
          or new.id is distinct from old.id or new.user_id is distinct from old.user_id
          or new.ref is distinct from old.ref or new.amount is distinct from old.amount
          or new.created_at is distinct from old.created_at or new.expires_at is distinct from old.expires_at
          or new.grant_id is distinct from old.grant_id)
    execute function credit_hold_guard();

create or replace function credit_reserve(p_user uuid, p_amount integer, p_ref text, p_ttl interval, p_now timestamptz)
returns credit_hold_outcome
language plpgsql as $$
declare
    v_now constant timestamptz := coalesce(p_now, now());
    v_outcome text;
    v_need integer;
    v_take integer;
    v_grants uuid[];
    v_takes integer[];
    v_many boolean;
    v_retried boolean := false;
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

    -- The draw: soonest-expiring credit first, never-expiring last, then oldest first. Read under the account
    -- lock, so it is final; nothing is written until it is known to cover the amount.
    loop
        v_need := p_amount;
        v_grants := '{}';
        v_takes := '{}';
        for v_grant in
            select s.grant_id, s.remaining from credit_grant_state s
             where s.user_id = p_user and s.live and (s.expires_at is null or s.expires_at > v_now)
             order by s.expires_at asc nulls last, s.created_at, s.grant_id
        loop
            v_take := least(v_grant.remaining, v_need);
            v_grants := v_grants || v_grant.grant_id;
            v_takes := v_takes || v_take;
            v_need := v_need - v_take;
            exit when v_need = 0;
        end loop;
        exit when v_need <= 0;
        -- Off the hot path: too few credits. A replay of a hold already placed, else free the user's own
        -- overdue holds and draw once more.
        if v_retried then
            return credit_hold_outcome_of('insufficient', null);
        end if;
        v_retried := true;
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
        if v_voided = 0 then
            return credit_hold_outcome_of('insufficient', null);
        end if;
    end loop;

    v_many := cardinality(v_grants) > 1;
    insert into credit_holds as h (user_id, ref, amount, created_at, expires_at, grant_id)
    values (p_user, p_ref, p_amount, v_now, v_now + p_ttl, case when not v_many then v_grants[1] end)
    on conflict (ref) do nothing
    returning * into v_hold;
    if not found then  -- this ref placed a hold already: the same request again, or a conflict
        select * into v_hold from credit_holds h where h.ref = p_ref;
        v_outcome := case when not found then 'ref_conflict'  -- that hold went with an erasure meanwhile
                        when v_hold.user_id = p_user and v_hold.amount = p_amount then 'replayed'
                        else 'ref_conflict' end;
        return credit_hold_outcome_of(v_outcome, v_hold);
    end if;

    for i in 1 .. cardinality(v_grants) loop
        if v_many then
            insert into credit_hold_allocations (hold_id, seq, grant_id, user_id, amount)
            values (v_hold.id, i - 1, v_grants[i], p_user, v_takes[i]);
        end if;
        update credit_grant_state s set remaining = s.remaining - v_takes[i] where s.grant_id = v_grants[i];
    end loop;
    insert into credit_ledger (user_id, type, amount, hold_id, ref, created_at)
    values (p_user, 'hold', p_amount, v_hold.id, p_ref, v_now);
    return credit_hold_outcome_of('reserved', v_hold);
end;
$$;

create or replace function credit_resolve(p_hold uuid, p_posted integer, p_now timestamptz)
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
    v_grants uuid[];
    v_amounts integer[];
begin
    -- The hold and its owner's account lock, in the lock order of every credit operation (the account first;
    -- the hold is only read here). Only the immutable columns of the hold are used: its status may be stale
    -- until the lock is held. No row: no such hold, or its account went with an erasure meanwhile.
    select h.* into v_hold from credit_holds h join credit_accounts a on a.user_id = h.user_id
     where h.id = p_hold
       for update of a;
    if not found then
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
    -- What the hold drew: one grant named on its row, or its allocation rows in spend order.
    if v_hold.grant_id is not null then
        v_grants := array[v_hold.grant_id];
        v_amounts := array[v_hold.amount];
    else
        select array_agg(al.grant_id order by al.seq), array_agg(al.amount order by al.seq)
          into v_grants, v_amounts
          from credit_hold_allocations al where al.hold_id = p_hold;
    end if;
    -- Spend in the order the hold drew (soonest-expiring first); the rest goes back to its grant, or is
    -- revoked on return when a full revocation closed that grant meanwhile.
    v_left := coalesce(v_posted, 0);
    for i in 1 .. coalesce(cardinality(v_grants), 0) loop
        v_spent := least(v_amounts[i], v_left);
        v_left := v_left - v_spent;
        v_back := v_amounts[i] - v_spent;
        update credit_grant_state s
           set spent = s.spent + v_spent,
               remaining = s.remaining + case when s.closed then 0 else v_back end,
               revoked = s.revoked + case when s.closed then v_back else 0 end
         where s.grant_id = v_grants[i]
        returning s.closed into v_closed;
        if v_closed and v_back > 0 then
            insert into credit_ledger (user_id, type, amount, grant_id, hold_id, ref, created_at)
            values (v_hold.user_id, 'revoke', v_back, v_grants[i], p_hold, v_hold.ref, v_now);
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
