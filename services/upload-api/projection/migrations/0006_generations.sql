-- 0006: output generations (POST /v1/videos/{id}/reprocess).
-- generation: the output generation the row serves (contract.Video.Generation;
-- 0 = the upload's own run, every existing row).
-- reprocessing: a newer generation being made while the served one stays
-- (JSON: generation, rank, failure fields, hls_master_key, progress, ready);
-- NULL when none is running or failed.
ALTER TABLE video_status ADD COLUMN generation int NOT NULL DEFAULT 0 CHECK (generation >= 0);
ALTER TABLE video_status ADD COLUMN reprocessing jsonb;

-- reprocess_requests: the latest reprocess each video was given, written by
-- the API (POST /v1/videos/{id}/reprocess) under the row's lock once
-- Kafka acknowledged its video.uploaded, so that two requests (two clicks,
-- two replicas) never start two generations.
CREATE TABLE reprocess_requests (
	video_id     uuid        PRIMARY KEY,
	generation   int         NOT NULL CHECK (generation > 0),
	requested_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
