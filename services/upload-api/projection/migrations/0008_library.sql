-- 0008: the library (GET /v1/videos without q): an owner's videos that are
-- not deleted, newest first (by created_at, when the projection first
-- recorded the video, then id), one keyset page at a time.
CREATE INDEX video_status_owner_library ON video_status (owner, created_at DESC, id DESC) WHERE deleted_at IS NULL;
