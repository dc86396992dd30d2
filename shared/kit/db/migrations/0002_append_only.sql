-- Append-only tables (ledger, consent events, audit, webhook inbox) attach this trigger to refuse
-- UPDATE and DELETE. The one exception is erasure: a transaction that runs
-- `set local atelier.erasing = 'on'` may delete (cascades from accounts included), nothing else may.
create function atelier_refuse_change() returns trigger
language plpgsql as $$
begin
    if tg_op = 'DELETE' and coalesce(current_setting('atelier.erasing', true), '') = 'on' then
        return old;
    end if;
    raise exception '% is append-only: % refused', tg_table_name, tg_op
        using errcode = 'restrict_violation';
end;
$$;
