-- Credits: the single-column rules of the ledger's three hot tables become domains (issue 34, item 4). The same
-- rules, enforced on every value written to those columns; the multi-column rules stay check constraints.
--
-- Why: PostgreSQL rebuilds a table's check constraints (and its generated columns) from their catalog text for
-- every INSERT or UPDATE statement that writes the table, and evaluates all of them whatever columns the
-- statement sets; a reserve + post cycle writes these tables six times. A domain's rule is read from the catalog
-- once per session (the type cache) and checked only where a value is assigned to a column of the domain. So an
-- update of `credit_grant_state.remaining` checks `remaining >= 0` and the multi-column rule, not also that
-- amount, spent, revoked and expired are still what they were. Measured: the functions' own work ~10–15 % less
-- (docs/benchmarks.md, Credits).
--
-- Every rule is kept, each with its sqlstate (23514, check_violation):
--   credit_grant_state: amount > 0, remaining/spent/revoked/expired >= 0 (domains); remaining + spent + revoked
--                       + expired <= amount (check, as before);
--   credit_holds:       amount > 0, 1 <= length(ref) <= 200 (domains); expires_at > created_at and the
--                       resolution rule (checks, as before);
--   credit_ledger:      amount >= 0, type one of the seven kinds (domains).
-- The client sees the base types (PostgreSQL describes a domain column by its base type). Changing a column's
-- type checks its rows against the domain; the generated column `live` and the hold trigger that read the
-- changed columns are dropped and made again exactly as migrations 0033 and 0036 made them.

create domain credit_positive as integer check (value > 0);
create domain credit_count as integer check (value >= 0);
create domain credit_reference as text check (length(value) between 1 and 200);
create domain credit_entry_type as text
    check (value in ('grant', 'hold', 'post', 'release', 'void', 'revoke', 'expire'));

-- credit_grant_state: `live` (0033) reads `remaining`, so it and its two indexes go and come back unchanged.
drop index credit_grant_state_spend;
drop index credit_grant_state_expiring;
alter table credit_grant_state drop column live;
alter table credit_grant_state
    drop constraint credit_grant_state_amount_check,
    drop constraint credit_grant_state_remaining_check,
    drop constraint credit_grant_state_spent_check,
    drop constraint credit_grant_state_revoked_check,
    drop constraint credit_grant_state_expired_check,
    alter column amount type credit_positive,
    alter column remaining type credit_count,
    alter column spent type credit_count,
    alter column revoked type credit_count,
    alter column expired type credit_count;
alter table credit_grant_state add column live boolean generated always as (remaining > 0) stored;
create index credit_grant_state_spend on credit_grant_state (user_id, expires_at nulls last, created_at, grant_id)
    where live;
create index credit_grant_state_expiring on credit_grant_state (expires_at) where live and expires_at is not null;

-- credit_holds: the resolve-once trigger's WHEN (0036) reads `amount` and `ref`.
drop trigger credit_holds_resolve_once on credit_holds;
alter table credit_holds
    drop constraint credit_holds_amount_check,
    drop constraint credit_holds_ref_check,
    alter column amount type credit_positive,
    alter column ref type credit_reference;
create trigger credit_holds_resolve_once before update on credit_holds
    for each row
    when (old.status <> 'pending'
          or new.id is distinct from old.id or new.user_id is distinct from old.user_id
          or new.ref is distinct from old.ref or new.amount is distinct from old.amount
          or new.created_at is distinct from old.created_at or new.expires_at is distinct from old.expires_at
          or new.grant_id is distinct from old.grant_id)
    execute function credit_hold_guard();

alter table credit_ledger
    drop constraint credit_ledger_amount_check,
    drop constraint credit_ledger_type_check,
    alter column amount type credit_count,
    alter column type type credit_entry_type;
