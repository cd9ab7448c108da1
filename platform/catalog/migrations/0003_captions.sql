-- 0003: caption cues (video.captions; the indexer consumes it in group
-- indexer-lifecycle). Search matches a video by the text of its caption
-- cues too, and names the matching cues with their start.
--
-- caption_tracks keeps, per video and language, the newest video.captions
-- applied (by updated_at): an older or equal one is a replay and changes
-- nothing, so the cues are the track's last state whatever the delivery
-- order. A deleted track keeps its row (deleted, no cues) as that fence.
CREATE TABLE caption_tracks (
    video_id   uuid NOT NULL,
    language   text NOT NULL,
    owner      text NOT NULL,
    label      text NOT NULL DEFAULT '',
    deleted    boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (video_id, language)
);

-- caption_cues holds the cues of each track in order (seq from 0), their
-- text without markup. The search vector uses the 'english'
-- configuration, as the videos' vector and the queries do.
CREATE TABLE caption_cues (
    video_id uuid NOT NULL,
    language text NOT NULL,
    seq      integer NOT NULL,
    owner    text NOT NULL,
    start_ms bigint NOT NULL,
    end_ms   bigint NOT NULL,
    text     text NOT NULL,
    search   tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED,
    PRIMARY KEY (video_id, language, seq)
);

CREATE INDEX caption_cues_search_idx ON caption_cues USING gin (search);
