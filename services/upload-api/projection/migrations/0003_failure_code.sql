-- error_code is the stable, user-safe code of a failed video's dead letter
-- (dlq.error_code, one of events.ErrorCodes); '' when not failed. The status
-- document shows it with a fixed message instead of the raw reason.
ALTER TABLE video_status ADD COLUMN error_code text NOT NULL DEFAULT '';
