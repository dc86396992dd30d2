-- The million-image studio (issue 34; `bench/scale.py` prints the plan of every hot statement): indexes for the
-- statements whose cost grew with a whole table rather than with one account or one page.

-- Erasure deletes an account's media; each deleted image sets `image_id` / `mask_id` of the jobs that used it to null
-- (ON DELETE SET NULL), and the foreign key's own query found those jobs by reading every job: an account with
-- 10,000 images cost 20,000 sequential scans of the jobs table.
create index jobs_image on jobs (image_id) where image_id is not null;
create index jobs_mask on jobs (mask_id) where mask_id is not null;

-- Every row of one account, in the trash or not: the data export (`where user_id = ...`), erasure and the cascade of
-- the account row. The history index (media_history) holds only rows outside the trash.
create index media_user on media (user_id);

-- An account's grants whatever their remainder: the live grants GET /v1/credits lists, the export, erasure and the
-- cascade. The spend index (credit_grant_state_spend) holds only grants with credits left.
create index credit_grant_state_user on credit_grant_state (user_id);

-- The failed-job-inputs retention sweep claims due rows in time order among failed jobs whose inputs are still
-- there (a week's worth at most), instead of reading every job on each run. The predicate is what the sweep clears:
-- the prompt, the caption, the input images, and the negative prompt in the job's parameters (the sweep's own
-- condition implies it, whether or not it names the negative prompt yet).
create index jobs_failed_inputs on jobs (finished_at)
    where status = 'failed'
      and (num_nonnulls(prompt, prompt_text, image_id, mask_id) > 0 or params ? 'negative_prompt');
