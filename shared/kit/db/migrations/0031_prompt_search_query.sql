-- The search query of GET /v1/media?q= built by the same text-search parser that built the index (migration 0027),
-- so both sides cut a prompt into the same words. The query used to be cut in Python into runs of letters and
-- digits, which the parser does not always do: "x-198572" is indexed as 'x' and '-198572' (a signed integer),
-- "12.5" as one number, so a search for the prompt's own text found nothing. Every word of the search is matched
-- as the start of a word (prefix), all of them required; at most 8 words (the first 8 in sorted order) take part.
-- Lexemes are quoted for the tsquery input syntax, so nothing typed is tsquery syntax. Immutable, so the planner
-- folds it to a constant and the media_prompt_search index serves the match.
create function atelier_prompt_query(q text) returns tsquery
language sql immutable strict parallel safe as $$
    select coalesce(string_agg('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''':*', ' & '), '')::tsquery
    from (select lexeme from unnest(to_tsvector('simple', q)) limit 8) words
$$;
