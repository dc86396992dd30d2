-- Generation jobs: queued → running → succeeded | failed | canceled. A finished job never changes.
create table jobs (
    id uuid primary key,
    user_id uuid not null references accounts (id) on delete cascade,
    task text not null check (task in ('text_to_image', 'edit', 'inpaint', 'upscale', 'image_to_prompt')),
    model text not null,
    status text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    prompt text,
    params jsonb not null default '{}'::jsonb,
    image_id uuid references media (id) on delete set null,
    mask_id uuid references media (id) on delete set null,
    cost integer not null check (cost >= 0),
    hold_id uuid,
    idempotency_key text,
    request_sha256 text not null,
    progress real not null default 0 check (progress between 0 and 1),
    cancel_requested boolean not null default false,
    seed bigint,
    prompt_text text,
    error_code text,
    error_message text,
    attempts integer not null default 0,
    created_at timestamptz not null default now(),
    dispatched_at timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    deadline_at timestamptz not null,
    constraint jobs_finished_has_time check ((status in ('succeeded', 'failed', 'canceled')) = (finished_at is not null)),
    constraint jobs_failed_has_code check (status <> 'failed' or error_code is not null)
);
alter table jobs enable row level security;

create unique index jobs_idempotency on jobs (user_id, idempotency_key) where idempotency_key is not null;
create index jobs_user_created on jobs (user_id, created_at desc, id desc);
create index jobs_unfinished on jobs (deadline_at) where status in ('queued', 'running');

-- A finished job never changes (only erasure may delete it, via the account cascade) — except that its
-- inputs may be cleared: retention removes a failed job's prompt, and deleting an input image unlinks it.
create function jobs_refuse_change_when_finished() returns trigger
language plpgsql as $$
declare
    inputs constant text[] := array['prompt', 'prompt_text', 'image_id', 'mask_id'];
begin
    if old.status in ('succeeded', 'failed', 'canceled') then
        if (to_jsonb(new) - inputs) = (to_jsonb(old) - inputs)
           and (new.prompt is null or new.prompt is not distinct from old.prompt)
           and (new.prompt_text is null or new.prompt_text is not distinct from old.prompt_text)
           and (new.image_id is null or new.image_id is not distinct from old.image_id)
           and (new.mask_id is null or new.mask_id is not distinct from old.mask_id) then
            return new;
        end if;
        raise exception 'job % is finished and cannot change', old.id using errcode = 'restrict_violation';
    end if;
    return new;
end;
$$;
create trigger jobs_finished_immutable before update on jobs
    for each row execute function jobs_refuse_change_when_finished();

alter table media add constraint media_job_fk foreign key (job_id) references jobs (id) on delete set null;
