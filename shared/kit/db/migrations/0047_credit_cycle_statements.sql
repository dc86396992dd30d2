-- Credits: a reserve + post in fewer statements (issue 34, item 4). The same rules, rows, entries and answers.
--
-- 1. credit_reserve places the common hold - the first grant in spend order covers the whole amount - in one
--    statement after the account lock: the draw (that grant), the hold, the grant's remainder and the `hold` ledger
--    entry, as parts of one statement (data-modifying WITH). Everything else (several grants, too few credits and the
--    overdue holds a starved reserve voids, a replay, a ref conflict) goes down the path of migration 0036,
--    unchanged, which decides as before.
-- 2. credit_resolve resolves a hold drawn from one grant (`credit_holds.grant_id`, migration 0036) in one statement
--    after the hold read and the account lock: the hold's resolution, the grant's spent/remaining/revoked and the
--    ledger entries (post and release, or void; a revoke entry where a full revocation closed the grant). A hold
--    with allocation rows goes down the path of 0036, unchanged.
--    Each PL/pgSQL statement costs its own plan check, snapshot, executor start and end and end-of-statement
--    trigger queue; a reserve + post ran nine, now four.
-- 3. The resolve-once trigger of credit_holds is split in two with the same refusals: the status guard, whose WHEN
--    is now `old.status <> 'pending'`, and a trigger on the immutable columns (`before update of id, user_id, ref,
--    amount, created_at, expires_at, grant_id`), which runs the same guard function (it refuses a changed value,
--    and lets an unchanged one pass, as before) for an UPDATE that names one of them; nothing in Atelier does.
--    PostgreSQL rebuilds a trigger's WHEN from its catalog text for every statement that fires it; the old one
--    compared seven columns. (Only an UPDATE can change a column it does not name through another BEFORE trigger;
--    credit_holds has no other.)
-- No table is rewritten; functions and triggers are replaced in place (safe to apply at any time).

drop trigger credit_holds_resolve_once on credit_holds;
create trigger credit_holds_resolve_once before update on credit_holds
    for each row when (old.status <> 'pending')
    execute function credit_hold_guard();
create trigger credit_holds_immutable before update of id, user_id, ref, amount, created_at, expires_at, grant_id
    on credit_holds
    for each row execute function credit_hold_guard();

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

    -- The common case in one statement: the first grant in spend order covers the whole amount, so the hold draws
    -- from it alone. The draw, the hold, the grant's remainder and the ledger entry as one statement's parts, read
    -- and written under the account lock as the loop below does. It places nothing when that grant falls short or
    -- this ref placed a hold already; the loop below then decides as it always did (several grants, too few
    -- credits, a replay, a conflict).
    with g as (
        select s.grant_id, s.remaining from credit_grant_state s
         where s.user_id = p_user and s.live and (s.expires_at is null or s.expires_at > v_now)
         order by s.expires_at asc nulls last, s.created_at, s.grant_id
         limit 1
    ), h as (
        insert into credit_holds as h (user_id, ref, amount, created_at, expires_at, grant_id)
        select p_user, p_ref, p_amount, v_now, v_now + p_ttl, g.grant_id from g where g.remaining >= p_amount
        on conflict (ref) do nothing
        returning h.*
    ), u as (
        update credit_grant_state s set remaining = s.remaining - p_amount from h where s.grant_id = h.grant_id
    ), l as (
        insert into credit_ledger (user_id, type, amount, hold_id, ref, created_at)
        select p_user, 'hold', p_amount, h.id, p_ref, v_now from h
    )
    select h.* into v_hold from h;
    if found then
        return credit_hold_outcome_of('reserved', v_hold);
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
    elsif v_hold.grant_id is not null then
        -- A hold drawn from one grant (almost every hold): the resolution, the grant's spent and returned credits
        -- and the ledger entries in one statement, the same rows and entries as the general path below. The rest
        -- goes back to the grant, or is revoked on return when a full revocation closed it meanwhile.
        with h as (
            update credit_holds h
               set status = case when v_posted is null then 'voided' else 'posted' end,
                   posted_amount = v_posted, resolved_at = v_now
             where h.id = p_hold and h.status = 'pending'
            returning h.*
        ), u as (
            update credit_grant_state s
               set spent = s.spent + coalesce(v_posted, 0),
                   remaining = s.remaining + case when s.closed then 0 else h.amount - coalesce(v_posted, 0) end,
                   revoked = s.revoked + case when s.closed then h.amount - coalesce(v_posted, 0) else 0 end
              from h where s.grant_id = h.grant_id
            returning s.closed
        ), l as (
            insert into credit_ledger (user_id, type, amount, grant_id, hold_id, ref, created_at)
            select h.user_id, e.type, e.amount, e.grant_id, h.id, h.ref, v_now
              from h left join u on true,
                   lateral (values
                       ('revoke', h.amount - coalesce(v_posted, 0), h.grant_id,
                        coalesce(u.closed, false) and h.amount > coalesce(v_posted, 0)),
                       ('void', h.amount, null, v_posted is null),
                       ('post', v_posted, null, v_posted is not null),
                       ('release', h.amount - v_posted, null, v_posted < h.amount)
                   ) e (type, amount, grant_id, wanted)
             where e.wanted
        )
        select h.* into v_hold from h;
        if found then
            return credit_hold_outcome_of('resolved', v_hold);
        end if;
        select * into v_hold from credit_holds h where h.id = p_hold;
        return credit_hold_outcome_of('already_resolved', v_hold);
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
