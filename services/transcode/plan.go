package transcode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// Consumer groups of the segment pipeline's work topics (the planner uses
// the stage's own group, "transcode").
const (
	GroupChunks   = contract.GroupTranscodeChunks
	GroupAudio    = contract.GroupTranscodeAudio
	GroupAssemble = contract.GroupTranscodeAssemble
)

// Plan is a transcode run of the segment pipeline, stored as JSON at
// contract.ChunkWorkPrefix(video, run) + "plan.json" by the planner and
// read by every chunk and by the fan-in. It holds everything a worker
// needs besides the source itself, so that every member of the group
// encodes the same way.
type Plan struct {
	Run    string                 `json:"run"`
	Upload contract.VideoUploaded `json:"upload"`
	// Source is the probed source; Declared its declared duration.
	Source   probe.Result `json:"source"`
	Declared float64      `json:"declared"`
	// Media is the video.transcoded's media section.
	Media      contract.Media     `json:"media"`
	Renditions []ladder.Rendition `json:"renditions"`
	// Encoding is shared by every chunk (Threads is each worker's own).
	Encoding ffmpeg.Encoding `json:"encoding"`
	// FrameRate is the output frame rate ("30000/1001"), FPS the same.
	FrameRate string  `json:"frame_rate"`
	FPS       float64 `json:"fps"`
	// Spans are the video chunks (none for an audio asset); AudioBitrates
	// the distinct AAC bitrates (empty when the source has no audio; an
	// audio asset's whole ladder, see audioLadder).
	Spans []ffmpeg.Span `json:"spans"`
	// Keyframes are the source's video keyframe times in seconds from its
	// start (ffmpeg.ChunkJob.Keyframes: MPEG-TS and MPEG-PS chunks seek by them).
	Keyframes     []float64 `json:"keyframes,omitempty"`
	AudioBitrates []int64   `json:"audio_bitrates,omitempty"`
	// Segments is the number of media segments per rung.
	Segments  int       `json:"segments"`
	CreatedAt time.Time `json:"created_at"`
}

// planKey is the object key of a run's plan.
func planKey(videoID, run string) string { return contract.ChunkWorkPrefix(videoID, run) + "plan.json" }

// markerKey is the object key of a work marker of a run, e.g. "done/v00003.json".
func markerKey(videoID, run, name string) string {
	return contract.ChunkWorkPrefix(videoID, run) + name
}

// Plan is the handler of video.uploaded in the segment pipeline: it checks
// the source as [Worker.Handle] does (download, probe, scan, limits; the
// same refusals), stores the run's [Plan], and publishes one work item per
// chunk and one for the audio to contract.TopicTranscodeChunks. It
// publishes no output (stage.ErrNoOutput): the fan-in
// ([Worker.Assemble]) publishes video.playable and video.transcoded.
// Re-running it (redelivery, replay) rewrites the same plan and
// republishes the same items with the same ids; the run is then encoded
// again and publishes the same events (same ids) over the same keys.
func (w *Worker) Plan(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
	var zero contract.VideoTranscoded
	if err := w.checkUpload(in); err != nil {
		return zero, err
	}
	run := stage.InputID(ctx)
	if !contract.IsUUID(run) {
		run = contract.DeriveID("run", in.VideoID, in.UploadedAt.UTC().Format(time.RFC3339Nano))
	}
	log := w.log.With("video_id", in.VideoID, "run", run)
	start := w.now()
	// A new plan reads the source as it is now: a copy cached by an earlier
	// run of the video (a plan that failed on a broken source, which was
	// then fixed and the video retried or reprocessed) is not reused. The
	// chunks of this run share the copy downloaded here.
	if w.cache != nil {
		w.cache.forget(in.VideoID)
	}
	src, release, err := w.source(ctx, in.VideoID, in.Source.Key)
	if err != nil {
		return zero, err
	}
	defer release()
	prep, err := w.prepare(ctx, src)
	if err != nil {
		return zero, err
	}
	plan, err := w.newPlan(in, run, prep)
	if err != nil {
		return zero, err
	}
	if err := w.putJSON(ctx, planKey(in.VideoID, run), plan); err != nil {
		return zero, err
	}
	items := make([]contract.TranscodeChunk, 0, len(plan.Spans)+1)
	item := func(kind string, i int) contract.TranscodeChunk {
		return contract.TranscodeChunk{SchemaVersion: contract.SchemaVersion, Video: in.Video, Run: run, Kind: kind,
			Index: i, Chunks: len(plan.Spans), PlanKey: planKey(in.VideoID, run)}
	}
	// The audio first (its own group: its first segment is needed to
	// play), then the video chunks in order, each to the next partition,
	// so that consecutive chunks go to different members.
	if len(plan.AudioBitrates) > 0 {
		items = append(items, item(contract.ChunkAudio, 0))
	}
	for i := range plan.Spans {
		items = append(items, item(contract.ChunkVideo, i))
	}
	// Two batches: the audio and the first chunk, then the rest (an audio
	// asset: the audio alone, and an empty second batch). A group
	// member reads its partitions concurrently, so of items that arrive
	// together it may take any first; the first chunk, on which playing
	// waits, arrives before the others and an idle member starts on it.
	first := 1 // chunk 0
	if len(plan.AudioBitrates) > 0 {
		first = 2 // the audio and chunk 0
	}
	first = min(first, len(items))
	for _, batch := range [][]contract.TranscodeChunk{items[:first], items[first:]} {
		if len(batch) == 0 {
			continue
		}
		evs, ids := make([]contract.Event, len(batch)), make([]string, len(batch))
		for i, it := range batch {
			evs[i], ids[i] = it, contract.WorkEventID(contract.StageTranscode, run, it.Key())
		}
		if err := stage.PublishAll(ctx, evs, ids); err != nil {
			return zero, err
		}
	}
	video := contract.MediaKindAudio // an audio asset
	if v := prep.probe.Video; v != nil {
		video = fmt.Sprintf("%s %dx%d", v.Codec, v.DisplayWidth, v.DisplayHeight)
	}
	log.Info("transcode planned", "format", prep.probe.FormatName,
		"video", video, "audio", prep.probe.Audio != nil,
		"duration_s", prep.declared, "renditions", len(plan.Renditions), "chunks", len(plan.Spans),
		"segments", plan.Segments, "elapsed", w.now().Sub(start).Round(time.Millisecond))
	return zero, stage.ErrNoOutput
}

// newPlan cuts the validated source into chunks.
func (w *Worker) newPlan(in contract.VideoUploaded, run string, prep *prepared) (*Plan, error) {
	pr := prep.probe
	if pr.IsAudio() {
		return w.newAudioPlan(in, run, prep), nil // audioasset.go
	}
	job := w.job(pr, prep.rends)
	rate, fps := job.FrameRate()
	gop := w.settings.GOPSeconds
	chunk := (w.settings.ChunkSeconds + gop - 1) / gop * gop // a multiple of the GOP
	first := w.settings.FirstChunkSeconds
	if first == 0 {
		first = chunk
	}
	spans, err := ffmpeg.Spans(rate, prep.declared, gop, first, chunk, w.settings.ChunkMinDuration.Seconds())
	if err != nil {
		return nil, stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanent(fmt.Errorf("plan chunks: %w", err)))
	}
	if len(spans) == 0 || len(spans) > contract.MaxChunks {
		return nil, stage.Coded(contract.ErrorCodeTooLarge, stage.Permanentf("plan chunks: %d chunks", len(spans)))
	}
	enc := job.Encoding
	enc.Threads = 0
	enc.Decoders = prep.decoders
	segments, longest := 0, 0
	for _, s := range spans {
		segments += s.Segments
		longest = max(longest, s.Segments)
	}
	rends := alignedRenditions(w.log.With("video_id", in.VideoID), prep.rends, rate, gop, longest)
	p := &Plan{
		Run: run, Upload: in, Source: *pr, Declared: prep.declared,
		Media: mediaOf(pr, prep.declared), Renditions: rends, Encoding: enc,
		FrameRate: rate, FPS: fps, Spans: spans, Segments: segments, CreatedAt: w.now().UTC(),
		Keyframes: prep.keyframes,
	}
	if pr.Audio != nil {
		seen := map[int64]bool{}
		for _, r := range rends {
			if !seen[r.AudioBitrate] {
				seen[r.AudioBitrate] = true
				p.AudioBitrates = append(p.AudioBitrates, r.AudioBitrate)
			}
		}
	}
	return p, nil
}

// mediaOf is the media section of the events.
func mediaOf(pr *probe.Result, declared float64) contract.Media {
	if pr.IsAudio() {
		m := contract.Media{Kind: contract.MediaKindAudio, DurationSeconds: pr.Duration, Format: pr.FormatName,
			AudioCodec: pr.Audio.Codec, Bitrate: pr.BitRate}
		if m.DurationSeconds <= 0 {
			m.DurationSeconds = declared
		}
		return m
	}
	v := pr.Video
	m := contract.Media{DurationSeconds: pr.Duration, Width: v.DisplayWidth, Height: v.DisplayHeight,
		Format: pr.FormatName, VideoCodec: v.Codec, FrameRate: v.FPS, Bitrate: pr.BitRate}
	if m.DurationSeconds <= 0 {
		m.DurationSeconds = declared
	}
	if pr.Audio != nil {
		m.AudioCodec = pr.Audio.Codec
	}
	return m
}

// source returns the local copy of a video's source from the worker's
// cache, downloading it (with the size checks of [Worker.download]) if
// this worker has not got it yet.
func (w *Worker) source(ctx context.Context, videoID, key string) (string, func(), error) {
	if w.cache == nil {
		return "", nil, errors.New("transcode: no source cache")
	}
	return w.cache.get(ctx, videoID, func(ctx context.Context, path string) error { return w.download(ctx, key, path) })
}

// errPlanGone: the run's plan is not in storage. The planner stores it
// before it publishes any work item, and the fan-in removes the video's
// work state once a run is complete: the record is a late duplicate of a
// finished run (or of one a later run replaced), and is dropped.
var errPlanGone = errors.New("plan not found: the run is finished or was replaced")

// loadPlan reads a run's plan (cached: plans never change).
func (w *Worker) loadPlan(ctx context.Context, key string) (*Plan, error) {
	w.plansMu.Lock()
	p, ok := w.plans[key]
	w.plansMu.Unlock()
	if ok {
		return p, nil
	}
	p = new(Plan)
	found, err := w.getJSON(ctx, key, p)
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, errPlanGone
	}
	w.plansMu.Lock()
	if len(w.plans) > 1024 {
		clear(w.plans)
	}
	w.plans[key] = p
	w.plansMu.Unlock()
	return p, nil
}

// putJSON stores v as JSON at key.
func (w *Worker) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if _, err := w.store.Put(ctx, key, bytes.NewReader(b), int64(len(b)), "application/json"); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// getJSON reads the JSON object at key into v; found is false when there
// is none. An object rewritten while it is read (the audio's marker, which
// its worker rewrites as it goes) fails the read with a precondition
// error: it is read again at once, a few times, instead of failing the
// attempt into a backoff.
func (w *Worker) getJSON(ctx context.Context, key string, v any) (found bool, err error) {
	for range 3 {
		found, err = w.getJSONOnce(ctx, key, v)
		if err == nil || !rewrittenWhileRead(err) {
			return found, err
		}
	}
	return found, err
}

// rewrittenWhileRead reports whether err is S3's PreconditionFailed: the
// object changed between the requests of one read (its ETag is checked).
func rewrittenWhileRead(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "PreconditionFailed") || strings.Contains(msg, "pre-conditions you specified did not hold")
}

func (w *Worker) getJSONOnce(ctx context.Context, key string, v any) (found bool, err error) {
	rc, err := w.store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// exists reports whether the object key exists.
func (w *Worker) exists(ctx context.Context, key string) (bool, error) {
	_, err := w.store.Stat(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("stat %s: %w", key, err)
	}
	return true, nil
}
