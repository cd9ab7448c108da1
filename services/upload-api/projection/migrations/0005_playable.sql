-- 0005: the segment pipeline (issue 13). contract.DefaultPipeline ranks a
-- new step, video.playable (status "playable"), between uploaded and
-- transcoded: uploaded 1, playable 2, transcoded 3, thumbnailed 4, ready 5
-- (before: uploaded 1, transcoded 2, thumbnailed 3, ready 4). stage_rank is
-- the only column holding a rank: a failed video keeps the rank it had
-- reached (its failed stage's input, or more), which shifts the same way;
-- status holds the status's name, which stays. So every rank from 2 on
-- moves up by one, and 0 (none) and 1 (uploaded) stay.
--
-- Run this only with every API replica of the old numbering stopped (the
-- old binary refuses to start on this schema, but one still running would
-- keep writing old ranks).
UPDATE video_status SET stage_rank = stage_rank + 1 WHERE stage_rank >= 2;

-- hls_master_key: the HLS master playlist's key, from the first event that
-- carried one (video.playable on); '' before. The status document shows
-- hls.master_url from then on. Videos already transcoded (rank 3 or more
-- now, failed ones included) have theirs: from the ready document, else
-- the fixed key every transcode wrote (contract.HLSMasterKey).
ALTER TABLE video_status ADD COLUMN hls_master_key text NOT NULL DEFAULT '';
UPDATE video_status SET hls_master_key = coalesce(ready->'hls'->>'master_key', '') WHERE ready IS NOT NULL;
UPDATE video_status SET hls_master_key = 'videos/' || id::text || '/hls/master.m3u8'
	WHERE hls_master_key = '' AND stage_rank >= 3;

-- failed_item: for a video failed by the dead letter of a work item
-- (contract.TranscodeChunk), the item as its key names it after the video
-- id ("v00003", "audio"); '' otherwise.
ALTER TABLE video_status ADD COLUMN failed_item text NOT NULL DEFAULT '';

-- progress: the counted work completions of the latest transcode run
-- (video.transcode.chunks-done), JSON: run, chunks_total, segments_total,
-- chunks_done, segments_done, audio_complete, done (a bitmap of the chunks
-- counted, base64). NULL before the first completion and once the video
-- is transcoded.
ALTER TABLE video_status ADD COLUMN progress jsonb;
