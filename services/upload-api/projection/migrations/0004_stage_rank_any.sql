-- stage_rank is the rank of the last pipeline step a video reached (1 for
-- the entry step, up to the number of steps of contract.Pipeline); 0001
-- capped it at 4, the steps of the default pipeline. The pipeline table
-- decides the ranks now: only a negative rank is refused.
ALTER TABLE video_status DROP CONSTRAINT video_status_stage_rank_check;
ALTER TABLE video_status ADD CONSTRAINT video_status_stage_rank_check CHECK (stage_rank >= 0);
