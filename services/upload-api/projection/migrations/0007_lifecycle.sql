-- 0006: the video lifecycle (DELETE and PATCH /v1/videos/{id}).
--
-- deleted_at: when the owner deleted the video; NULL while it exists. A
-- deleted video keeps its row as a tombstone: GET answers 404, its event
-- streams end, the events still in flight for it are dropped (not
-- applied) and its source no longer counts toward the owner's quota. A
-- video deleted before the projection saw any event of it (an unfinished
-- tus upload) gets a row with status 'deleted' and rank 0.
ALTER TABLE video_status ADD COLUMN deleted_at timestamptz;

-- edit: the newest metadata edit (PATCH), JSON {title, description, tags,
-- updated_at}; NULL when never edited. The status document shows it over
-- the upload's metadata; pipeline events, which carry the upload's
-- metadata, never change it.
ALTER TABLE video_status ADD COLUMN edit jsonb;
