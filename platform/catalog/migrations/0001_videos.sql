-- 0001: the video catalog.
--
-- One row per video, written only by the indexer. "document" is the full
-- video.ready event as published; the other columns are projections of it
-- for filtering, sorting and full-text search.

-- array_to_string is STABLE (element output functions may depend on
-- settings), so it cannot be used in a generated column. For text[] the
-- result depends on nothing but the input, which makes this wrapper truly
-- immutable.
CREATE FUNCTION vidpipe_tags_text(tags text[]) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT array_to_string(tags, ' ') $$;

CREATE TABLE videos (
    id               uuid PRIMARY KEY,
    owner            text NOT NULL,
    title            text NOT NULL,
    description      text NOT NULL DEFAULT '',
    tags             text[] NOT NULL DEFAULT '{}',
    duration_seconds double precision NOT NULL,
    width            integer NOT NULL,
    height           integer NOT NULL,
    format           text NOT NULL DEFAULT '',
    video_codec      text NOT NULL DEFAULT '',
    audio_codec      text NOT NULL DEFAULT '',
    renditions       jsonb NOT NULL,
    hls_master_key   text NOT NULL,
    thumbnails       jsonb NOT NULL,
    uploaded_at      timestamptz NOT NULL,
    transcoded_at    timestamptz NOT NULL,
    thumbnailed_at   timestamptz NOT NULL,
    -- ready_at is when the video first became ready; replays keep it.
    ready_at         timestamptz NOT NULL,
    -- updated_at changes only when the document changes.
    updated_at       timestamptz NOT NULL DEFAULT now(),
    document         jsonb NOT NULL,
    -- Weighted full-text vector: title (A) ranks above tags (B) above
    -- description (C). Queries must use the same 'english' configuration.
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(vidpipe_tags_text(tags), '')), 'B') ||
        setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
    ) STORED
);

CREATE INDEX videos_search_idx ON videos USING gin (search);
CREATE INDEX videos_owner_ready_idx ON videos (owner, ready_at DESC, id DESC);
