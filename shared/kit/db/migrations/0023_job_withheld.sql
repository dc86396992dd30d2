-- A job that delivered only some of its images says how many it withheld and why (issue 35): the output classifier
-- blocked them ('moderation') or the object store refused them ('storage'). Set once, by the success transaction
-- that posts the delivered share of the hold; nothing of a withheld image is kept.
alter table jobs
    add column withheld_count integer not null default 0 check (withheld_count >= 0),
    add column withheld_reason text check (withheld_reason in ('moderation', 'storage')),
    add constraint jobs_withheld_has_reason check ((withheld_count = 0) = (withheld_reason is null)),
    add constraint jobs_withheld_only_when_succeeded check (withheld_count = 0 or status = 'succeeded');
