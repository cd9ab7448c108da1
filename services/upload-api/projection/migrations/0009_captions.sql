-- 0009: caption tracks (POST/GET/DELETE /v1/videos/{id}/captions), one per
-- video and language; the WebVTT itself is in object storage at
-- videos/{id}/captions/{language}.vtt. Written only by upload-api; removed
-- with the video (its video.deleted consumer).
CREATE TABLE video_captions (
	video_id   uuid        NOT NULL,
	-- language: the canonical BCP 47 tag (en, pt-BR, zh-Hant-TW).
	language   text        NOT NULL,
	label      text        NOT NULL,
	cues       int         NOT NULL CHECK (cues > 0),
	bytes      bigint      NOT NULL CHECK (bytes > 0),
	-- end_ms: the end of the last-ending cue, in milliseconds.
	end_ms     bigint      NOT NULL CHECK (end_ms >= 0),
	updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (video_id, language)
);
