-- Search of one's own history by prompt text (GET /v1/media?q=). The embedded Postgres ships pgvector and
-- plpgsql only (no pg_trgm), so the index is full-text: the 'simple' configuration (no stemming, no stop
-- words: prompts are in every language) over the prompt, with each user's rows narrowed by the query's
-- user_id clause. The expression must match shared/media/repo.py's exactly for the planner to use it.
create index media_prompt_search on media using gin (to_tsvector('simple', coalesce(prompt, '')))
    where deleted_at is null;
