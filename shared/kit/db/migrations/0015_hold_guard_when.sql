-- The resolve-once guard of credit_holds fires only for a change it refuses.
--
-- Every post and void updates a pending hold, and the guard (migration 0003) ran as PL/pgSQL on each of
-- them only to let it through. A WHEN condition is evaluated by the executor itself, so the allowed
-- update (pending -> resolved, resolution columns only) no longer calls the function at all; the rules and
-- their error messages are unchanged. Deletion keeps its unconditional trigger: the function decides by
-- the `atelier.erasing` setting, and deletions are rare.
drop trigger credit_holds_resolve_once on credit_holds;

create trigger credit_holds_resolve_once before update on credit_holds
    for each row
    when (old.status <> 'pending'
          or new.id is distinct from old.id or new.user_id is distinct from old.user_id
          or new.ref is distinct from old.ref or new.amount is distinct from old.amount
          or new.created_at is distinct from old.created_at or new.expires_at is distinct from old.expires_at)
    execute function credit_hold_guard();

create trigger credit_holds_kept before delete on credit_holds
    for each row execute function credit_hold_guard();
