-- Credits: an exact ledger with holds (see shared/credits/service.py for the rules).
--
-- History is append-only: grants, revocations, which grants each hold drew from, and every ledger
-- entry. Mutable state lives in separate rows guarded by constraints and triggers:
--   credit_accounts     one row per user, locked FOR UPDATE by every operation that moves credits,
--                       so the operations of one user are serialised by the database itself;
--   credit_grant_state  per grant: remaining (spendable), spent and revoked, with
--                       remaining + spent + revoked <= amount and each >= 0 (no overdraft is storable);
--   credit_holds        pending -> posted | voided, exactly once (a trigger refuses any other change).

create table credit_accounts (
    user_id uuid primary key references accounts (id) on delete cascade,
    created_at timestamptz not null default now()
);
alter table credit_accounts enable row level security;

create table credit_grants (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references accounts (id) on delete cascade,
    kind text not null check (kind in ('signup', 'purchase', 'subscription', 'adjustment')),
    amount integer not null check (amount > 0),
    source_ref text not null unique check (length(source_ref) between 1 and 200),
    expires_at timestamptz,
    reason text check (length(reason) <= 500),
    created_at timestamptz not null default now(),
    check (expires_at is null or expires_at > created_at)
);
alter table credit_grants enable row level security;
create index credit_grants_user on credit_grants (user_id, created_at desc);
create trigger credit_grants_append_only before update or delete on credit_grants
    for each row execute function atelier_refuse_change();

create table credit_grant_state (
    grant_id uuid primary key references credit_grants (id) on delete cascade,
    user_id uuid not null references accounts (id) on delete cascade,
    amount integer not null check (amount > 0),
    expires_at timestamptz,
    created_at timestamptz not null,
    remaining integer not null check (remaining >= 0),
    spent integer not null default 0 check (spent >= 0),
    revoked integer not null default 0 check (revoked >= 0),
    -- Set by a revocation of "everything unspent": credits later released by a hold on this grant are
    -- revoked on return instead of becoming spendable again.
    closed boolean not null default false,
    check (remaining + spent + revoked <= amount)
);
alter table credit_grant_state enable row level security;
-- Spend order: soonest-expiring first, never-expiring last, then oldest first.
create index credit_grant_state_spend on credit_grant_state (user_id, expires_at nulls last, created_at, grant_id)
    where remaining > 0;

create table credit_revocations (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references accounts (id) on delete cascade,
    grant_id uuid not null references credit_grants (id) on delete cascade,
    revocation_ref text not null unique check (length(revocation_ref) between 1 and 200),
    requested integer check (requested > 0),  -- null: everything unspent
    amount integer not null check (amount >= 0),
    reason text check (length(reason) <= 500),
    created_at timestamptz not null default now()
);
alter table credit_revocations enable row level security;
create index credit_revocations_grant on credit_revocations (grant_id);
create index credit_revocations_user on credit_revocations (user_id);
create trigger credit_revocations_append_only before update or delete on credit_revocations
    for each row execute function atelier_refuse_change();

create table credit_holds (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references accounts (id) on delete cascade,
    ref text not null unique check (length(ref) between 1 and 200),
    amount integer not null check (amount > 0),
    status text not null default 'pending' check (status in ('pending', 'posted', 'voided')),
    posted_amount integer,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    resolved_at timestamptz,
    check (expires_at > created_at),
    check (
        (status = 'pending' and posted_amount is null and resolved_at is null)
        or (status = 'posted' and posted_amount between 0 and amount and resolved_at is not null)
        or (status = 'voided' and posted_amount is null and resolved_at is not null)
    )
);
alter table credit_holds enable row level security;
create index credit_holds_user on credit_holds (user_id, status);
create index credit_holds_overdue on credit_holds (expires_at) where status = 'pending';

-- A hold resolves exactly once: only pending -> posted | voided, touching nothing but the resolution
-- columns. Deletion only during erasure.
create function credit_hold_guard() returns trigger
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
       or new.created_at <> old.created_at or new.expires_at <> old.expires_at then
        raise exception 'only the resolution of a credit hold may change' using errcode = 'restrict_violation';
    end if;
    return new;
end;
$$;
create trigger credit_holds_resolve_once before update or delete on credit_holds
    for each row execute function credit_hold_guard();

-- Which grants a hold drew from, in spend order (seq); the resolution decides what is spent or released.
create table credit_hold_allocations (
    hold_id uuid not null references credit_holds (id) on delete cascade,
    seq smallint not null check (seq >= 0),
    grant_id uuid not null references credit_grants (id) on delete cascade,
    user_id uuid not null references accounts (id) on delete cascade,
    amount integer not null check (amount > 0),
    primary key (hold_id, seq)
);
alter table credit_hold_allocations enable row level security;
create index credit_hold_allocations_grant on credit_hold_allocations (grant_id);
create index credit_hold_allocations_user on credit_hold_allocations (user_id);
create trigger credit_hold_allocations_append_only before update or delete on credit_hold_allocations
    for each row execute function atelier_refuse_change();

-- What the user sees: every movement, amounts as positive magnitudes, the type saying which way.
-- grant_id / hold_id are plain references (no foreign keys): the rows go with the account's cascade,
-- and the hot path saves two key checks and two index writes per entry.
create table credit_ledger (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references accounts (id) on delete cascade,
    type text not null check (type in ('grant', 'hold', 'post', 'release', 'void', 'revoke')),
    amount integer not null check (amount >= 0),
    grant_id uuid,
    hold_id uuid,
    ref text,
    created_at timestamptz not null default now()
);
alter table credit_ledger enable row level security;
create index credit_ledger_user on credit_ledger (user_id, created_at desc, id desc);
create trigger credit_ledger_append_only before update or delete on credit_ledger
    for each row execute function atelier_refuse_change();

-- Audit: who did what to whom, with the subject as a pseudonym (a salted hash of the account id) and
-- details holding field names and amounts only. Kept after erasure; it names nobody.
create table audit_pseudonym_key (
    id boolean primary key default true check (id),
    key text not null default (gen_random_uuid()::text || gen_random_uuid()::text)
);
alter table audit_pseudonym_key enable row level security;
insert into audit_pseudonym_key default values;

create table audit_log (
    id uuid primary key default gen_random_uuid(),
    at timestamptz not null default now(),
    actor text not null check (length(actor) between 1 and 100),
    action text not null check (length(action) between 1 and 100),
    subject_ref text,
    details jsonb not null default '{}'::jsonb check (jsonb_typeof(details) = 'object')
);
alter table audit_log enable row level security;
create index audit_log_at on audit_log (at);
create index audit_log_subject on audit_log (subject_ref);
create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function atelier_refuse_change();
