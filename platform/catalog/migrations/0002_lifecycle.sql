-- 0002: the video lifecycle (DELETE and PATCH /v1/videos/{id}; the
-- indexer consumes video.deleted and video.updated in group
-- indexer-lifecycle).
--
-- deleted_videos is the fence of deleted videos: Upsert of an id listed
-- here stores nothing, so a late video.thumbnailed cannot bring a deleted
-- video back into search. Upsert, Delete and Edit take the same per-video
-- advisory lock, so a delete and an upsert never interleave.
CREATE TABLE deleted_videos (
    id         uuid PRIMARY KEY,
    owner      text NOT NULL DEFAULT '',
    deleted_at timestamptz NOT NULL
);

-- video_edits keeps the newest metadata edit of each video (video.updated,
-- by its updated_at). Upsert applies it over the document it stores, so an
-- edit made while the video was in the pipeline survives the later events
-- that still carry the upload's metadata, and an edit of a video not yet
-- in the catalog is applied once it gets there.
CREATE TABLE video_edits (
    id          uuid PRIMARY KEY,
    owner       text NOT NULL,
    title       text NOT NULL,
    description text NOT NULL DEFAULT '',
    tags        text[] NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL
);
