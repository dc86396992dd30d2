-- The retention sweep of failed jobs' inputs (rule failed_job_inputs, shared/retention/sweeps.py) walks due rows in
-- finished_at order. No index served it, so each of its batches read the whole jobs table and sorted the failed
-- ones: a cost that grew with every job ever run, not with the inputs due. This partial index holds exactly the
-- rows the sweep looks for (its `where` word for word) and each row leaves it once its inputs are cleared.
create index jobs_failed_inputs_finished on jobs (finished_at)
    where status = 'failed' and num_nonnulls(prompt, prompt_text, image_id, mask_id) > 0;
