-- Variations (task `vary`), render steps for progress and time-left estimates, and a fast count of an account's
-- active jobs (the per-account limit on jobs queued or running, checked under the credit-account lock).
alter table jobs drop constraint jobs_task_check;
alter table jobs add constraint jobs_task_check
    check (task in ('text_to_image', 'edit', 'inpaint', 'upscale', 'image_to_prompt', 'vary'));

alter table jobs add column step integer;
alter table jobs add column steps integer;
alter table jobs add column step_at timestamptz;
alter table jobs add constraint jobs_step_range
    check (step is null or (step >= 0 and steps is not null and steps >= 1 and step <= steps));

create index jobs_user_active on jobs (user_id) where status in ('queued', 'running');
