-- Thumbnails: a small WebP derivative of each stored upload and output, made when the image is stored, so
-- the history and the gallery load a few kilobytes per tile instead of the full image. The object lives
-- under users/{user_id}/thumbnails/ (its own data-map prefix) and goes wherever the original goes: trash
-- purge, export, erasure. Rows stored before this migration have none (the page falls back to the image).
alter table media add column thumbnail_key text unique;
alter table media add constraint media_thumbnail_owned
    check (thumbnail_key is null or thumbnail_key like 'users/' || user_id::text || '/thumbnails/%');
