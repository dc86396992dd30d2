-- A job's negative prompt (jobs.params->'negative_prompt', since the models' controls) is text the person wrote,
-- as personal as the prompt. Retention clears a failed job's inputs once their period is over; it now clears the
-- negative prompt with them, so the finished-job guard allows exactly that one change to params as well.
create or replace function jobs_refuse_change_when_finished() returns trigger
language plpgsql as $$
declare
    inputs constant text[] := array['prompt', 'prompt_text', 'image_id', 'mask_id', 'params'];
begin
    if old.status in ('succeeded', 'failed', 'canceled') then
        if (to_jsonb(new) - inputs) = (to_jsonb(old) - inputs)
           and (new.prompt is null or new.prompt is not distinct from old.prompt)
           and (new.prompt_text is null or new.prompt_text is not distinct from old.prompt_text)
           and (new.image_id is null or new.image_id is not distinct from old.image_id)
           and (new.mask_id is null or new.mask_id is not distinct from old.mask_id)
           and (new.params = old.params or new.params = old.params - 'negative_prompt') then
            return new;
        end if;
        raise exception 'job % is finished and cannot change', old.id using errcode = 'restrict_violation';
    end if;
    return new;
end;
$$;
