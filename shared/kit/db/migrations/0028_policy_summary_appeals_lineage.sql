-- A complete privacy policy published as a material change, appeals against moderation decisions, and the
-- upload lineage that keeps images made from a person's upload out of the improvement dataset (issue 32).

-- What changed in a version, in a few sentences: the accept page shows it above the text.
alter table policy_versions add column summary text check (summary is null or char_length(summary) between 1 and 2000);

-- Every moderation decision that affects a person is a row here, with its statement of reasons: the classifier's
-- (stage output/upload/publish: model, category, score, threshold, time) and now an operator's (takedown,
-- suspension: model 'operator', the reason given). An appeal that restores it marks it overturned.
alter table moderation_decisions drop constraint moderation_decisions_stage_check;
alter table moderation_decisions add constraint moderation_decisions_stage_check
    check (stage in ('output', 'upload', 'publish', 'takedown', 'suspension'));
alter table moderation_decisions
    add column reason text check (reason is null or char_length(reason) <= 1000),
    add column overturned_at timestamptz;

-- The notice that states a decision's reasons points at it, so the app can offer "Appeal" there.
alter table notifications add column decision_id uuid references moderation_decisions (id) on delete cascade;

-- An appeal is a support ticket of topic 'appeal' linked to the decision it contests (one per decision); the
-- operator's answer is recorded on it: restored (the decision is overturned) or confirmed.
alter table support_tickets drop constraint support_tickets_topic_check;
alter table support_tickets add constraint support_tickets_topic_check
    check (topic in ('general', 'account', 'billing', 'privacy', 'other', 'appeal'));
alter table support_tickets
    add column decision_id uuid references moderation_decisions (id) on delete set null,
    add column appeal_outcome text check (appeal_outcome in ('restored', 'confirmed')),
    add column appeal_decided_at timestamptz,
    add constraint support_tickets_appeal_link check (decision_id is null or topic = 'appeal'),
    add constraint support_tickets_appeal_decided check ((appeal_outcome is null) = (appeal_decided_at is null));
create unique index support_tickets_one_appeal on support_tickets (decision_id) where decision_id is not null;
create index support_tickets_appeals on support_tickets (created_at) where topic = 'appeal';

-- Upload lineage: an output whose chain of inputs (the job's image or mask, and their own inputs) starts from a
-- person's upload. Set once when the output is recorded, so it survives the input's later deletion; an input that
-- is gone already (or any non-text-to-image job without one) counts as an upload, to be safe.
alter table media add column upload_lineage boolean not null default false;

create function media_upload_lineage() returns trigger
language plpgsql as $$
begin
    if new.kind = 'output' and new.job_id is not null then
        select coalesce(bool_or(input.id is not null and (i.kind <> 'output' or i.upload_lineage)), false)
               or (j.image_id is null and j.mask_id is null and j.task <> 'text_to_image')
          into new.upload_lineage
          from jobs j
          left join lateral unnest(array_remove(array[j.image_id, j.mask_id], null)) as input(id) on true
          left join media i on i.id = input.id
         where j.id = new.job_id
         group by j.image_id, j.mask_id, j.task;
        new.upload_lineage := coalesce(new.upload_lineage, false);
    end if;
    return new;
end $$;
create trigger media_upload_lineage before insert on media for each row execute function media_upload_lineage();

-- Outputs recorded before this migration: follow the chain now.
with recursive chain as (
    select o.id as output_id, o.job_id from media o where o.kind = 'output' and o.job_id is not null
    union
    select c.output_id, i.job_id
      from chain c join jobs j on j.id = c.job_id
      join media i on i.id in (j.image_id, j.mask_id)
     where i.kind = 'output' and i.job_id is not null
), tainted as (
    select distinct c.output_id from chain c join jobs j on j.id = c.job_id
     where (j.image_id is null and j.mask_id is null and j.task <> 'text_to_image')
        or exists (select 1 from media i where i.id in (j.image_id, j.mask_id) and i.kind <> 'output')
)
update media set upload_lineage = true where id in (select output_id from tainted);
