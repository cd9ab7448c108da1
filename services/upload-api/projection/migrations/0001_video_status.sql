-- video_status is the status projection: one row per video, written only by
-- the upload-api's projection consumer.
CREATE TABLE video_status (
	id           uuid        PRIMARY KEY,
	owner        text        NOT NULL,
	status       text        NOT NULL,
	-- stage_rank: highest stage reached: 1 uploaded, 2 transcoded, 3 thumbnailed, 4 ready.
	stage_rank   int         NOT NULL CHECK (stage_rank BETWEEN 0 AND 4),
	failed_stage text        NOT NULL DEFAULT '',
	reason       text        NOT NULL DEFAULT '',
	error_class  text        NOT NULL DEFAULT '',
	attempts     int         NOT NULL DEFAULT 0,
	uploaded     jsonb,
	ready        jsonb,
	-- version grows by one per change of the state (SSE event id).
	version      bigint      NOT NULL DEFAULT 1,
	-- last_offsets: {"topic/partition": offset} of the last record applied
	-- per topic/partition; a record at or below it is a redelivery.
	last_offsets jsonb       NOT NULL DEFAULT '{}',
	created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX video_status_owner_updated ON video_status (owner, updated_at DESC);
