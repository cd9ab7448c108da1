package transcode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// segInfo is one CMAF media segment in storage: its URI relative to the
// media playlist, its duration in seconds and size; Start and Ticks are
// its presentation time and duration in the track's timescale (the MPD's
// SegmentTimeline).
type segInfo struct {
	URI      string  `json:"uri"`
	Duration float64 `json:"duration"`
	Size     int64   `json:"size"`
	Start    uint64  `json:"start"`
	Ticks    uint64  `json:"ticks"`
}

// segInfos converts what a TrackCutter wrote.
func segInfos(segs []ffmpeg.SegmentInfo) []segInfo {
	out := make([]segInfo, len(segs))
	for i, s := range segs {
		out[i] = segInfo{URI: s.URI, Duration: s.Seconds, Size: s.Size, Start: s.Start, Ticks: s.Duration}
	}
	return out
}

// chunkMarker records a finished video chunk (work/{run}/done/v00003.json):
// per rung, its segments in storage, the SHA-256 of its init segment
// (every chunk of a rung writes the same init.mp4: the fan-in checks) and
// its track timescale; chunk 0 also records each rung's RFC 6381 codec
// string for the master playlist and the MPD.
type chunkMarker struct {
	Index     int                  `json:"index"`
	Rungs     map[string][]segInfo `json:"rungs"`
	Codecs    map[string]string    `json:"codecs,omitempty"`
	Inits     map[string]string    `json:"inits,omitempty"`
	Timescale map[string]uint32    `json:"timescale,omitempty"`
}

// audioMarker records the audio's progress (work/{run}/done/audio.json):
// per audio group ("128k"), the segments in storage so far (after its
// init.mp4) and the track timescale.
type audioMarker struct {
	Groups    map[string][]segInfo `json:"groups"`
	Timescale map[string]uint32    `json:"timescale,omitempty"`
	Complete  bool                 `json:"complete"`
	// Loudness is the audio's measurement (media.loudness), set once
	// Complete; nil when not measured.
	Loudness *contract.Loudness `json:"loudness,omitempty"`
}

// Content types of the CMAF objects.
const (
	contentTypeInit    = "video/mp4"
	contentTypeSegment = "video/iso.segment"
)

// Work marker names inside a run's work prefix.
const (
	doneDir         = "done/"
	audioMarkerName = doneDir + "audio.json"
	playableMarker  = "playable.json"
)

func chunkMarkerName(i int) string { return fmt.Sprintf("%sv%05d.json", doneDir, i) }

// audioProgressEvery is the least time between two audio progress records.
const audioProgressEvery = time.Second

// VideoChunk is the handler of video.transcode.chunks for the video
// chunks (group transcode-chunks): see [Worker.Chunk]. It skips audio
// items, which [Worker.AudioChunk] handles in a group of its own so that
// the audio of a long video never holds up its video chunks.
func (w *Worker) VideoChunk(ctx context.Context, item contract.TranscodeChunk) (contract.TranscodeChunkDone, error) {
	if item.Kind == contract.ChunkAudio {
		return contract.TranscodeChunkDone{}, stage.ErrNoOutput
	}
	return w.Chunk(ctx, item)
}

// AudioChunk is the handler of video.transcode.chunks for the audio items
// (group transcode-audio): see [Worker.Chunk]. It skips video chunks.
func (w *Worker) AudioChunk(ctx context.Context, item contract.TranscodeChunk) (contract.TranscodeChunkDone, error) {
	if item.Kind != contract.ChunkAudio {
		return contract.TranscodeChunkDone{}, stage.ErrNoOutput
	}
	return w.Chunk(ctx, item)
}

// Chunk encodes one work item of a run's [Plan] (a video chunk into every
// rung, or the whole audio), uploads its segments, records a marker and
// announces it on video.transcode.chunks-done. It publishes no output of
// its own (stage.ErrNoOutput). It is idempotent: the same item writes the
// same segment keys and marker, and announces with the same id.
func (w *Worker) Chunk(ctx context.Context, item contract.TranscodeChunk) (contract.TranscodeChunkDone, error) {
	var zero contract.TranscodeChunkDone
	if err := item.Validate(); err != nil {
		return zero, stage.Permanent(err)
	}
	plan, err := w.loadPlan(ctx, item.PlanKey)
	if err == nil {
		// The plan may be cached here from before the run finished.
		err = w.runActive(ctx, item.PlanKey)
	}
	if errors.Is(err, errPlanGone) {
		w.log.Warn("work item of a finished or replaced run dropped", "video_id", item.VideoID, "run", item.Run, "item", item.Key())
		return zero, stage.ErrNoOutput
	} else if err != nil {
		return zero, err
	}
	if item.Chunks != len(plan.Spans) || plan.Upload.VideoID != item.VideoID {
		return zero, stage.Coded(contract.ErrorCodeInvalidEvent,
			stage.Permanentf("work item %s does not match its plan (%d chunks)", item.Key(), len(plan.Spans)))
	}
	src, release, err := w.source(ctx, item.VideoID, item.Source.Key)
	if err != nil {
		return zero, err
	}
	defer release()
	dir, err := os.MkdirTemp(w.settings.TempDir, WorkDirPrefix+item.VideoID+"-")
	if err != nil {
		return zero, fmt.Errorf("working directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if item.Kind == contract.ChunkAudio {
		err = w.encodeAudio(ctx, item, plan, src, dir)
	} else {
		err = w.encodeChunk(ctx, item, plan, src, dir)
	}
	if errors.Is(err, errPlanGone) {
		w.log.Warn("work item of a run that finished meanwhile dropped", "video_id", item.VideoID, "run", item.Run, "item", item.Key())
		return zero, stage.ErrNoOutput
	} else if err != nil {
		return zero, err
	}
	return zero, stage.ErrNoOutput
}

// runActive returns errPlanGone when the run's plan is no longer in
// storage: the run finished (the fan-in removes the plan first, then the
// rest of the work state) or another run replaced it. A work item checks
// it before it writes anything, and again after its marker: a marker
// written after the fan-in listed the work state is removed again, so a
// finished run leaves nothing behind.
func (w *Worker) runActive(ctx context.Context, planKey string) error {
	ok, err := w.exists(ctx, planKey)
	switch {
	case err != nil:
		return err
	case !ok:
		return errPlanGone
	}
	return nil
}

// putMarker writes a work marker while the run is active (see runActive).
func (w *Worker) putMarker(ctx context.Context, planKey, key string, v any) error {
	if err := w.runActive(ctx, planKey); err != nil {
		return err
	}
	if err := w.putJSON(ctx, key, v); err != nil {
		return err
	}
	if err := w.runActive(ctx, planKey); errors.Is(err, errPlanGone) {
		if rerr := w.store.Remove(ctx, key); rerr != nil {
			return fmt.Errorf("remove the marker of a finished run: %w", rerr)
		}
		return err
	} else if err != nil {
		return err
	}
	return nil
}

// encodeChunk encodes and uploads video chunk item.Index.
func (w *Worker) encodeChunk(ctx context.Context, item contract.TranscodeChunk, plan *Plan, src, dir string) error {
	span := plan.Spans[item.Index]
	log := w.log.With("video_id", item.VideoID, "chunk", item.Index, "chunks", len(plan.Spans))
	start := w.now()
	enc := plan.Encoding
	enc.Threads = w.settings.Threads
	job := ffmpeg.ChunkJob{Input: src, Source: &plan.Source, Renditions: plan.Renditions, Encoding: enc, Span: span, Keyframes: plan.Keyframes}
	args, err := job.Args()
	if err != nil {
		return fmt.Errorf("ffmpeg command: %w", err)
	}
	if err := makeOutputDirs(dir, plan.Renditions); err != nil {
		return err
	}
	runner := w.runner
	runner.Logger = log
	runner.FrameRate = plan.FPS // progress by frames: the chunk keeps the source's timestamps
	if err := runner.Run(ctx, dir, args, span.Duration); err != nil {
		if ctx.Err() == nil && errors.Is(err, ffmpeg.ErrRejected) {
			return stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanent(fmt.Errorf("transcode chunk %d: %w", item.Index, err)))
		}
		return fmt.Errorf("transcode chunk %d: %w", item.Index, err)
	}
	encoded := w.now()
	cut, err := job.Cut(dir)
	if err != nil {
		return fmt.Errorf("chunk %d: %w", item.Index, err)
	}
	marker := chunkMarker{Index: item.Index, Rungs: map[string][]segInfo{}, Inits: map[string]string{}, Timescale: map[string]uint32{}}
	if item.Index == 0 {
		marker.Codecs = map[string]string{}
	}
	var objs []object
	last := item.Index == len(plan.Spans)-1
	for _, r := range plan.Renditions {
		c := cut[r.Name]
		// ffmpeg exits successfully when the source ends before the span
		// does (it declared more than it has): refused, like a truncated
		// single-pass output.
		if err := span.CheckSegments(c.Playlist(), last); err != nil {
			return stage.Coded(contract.ErrorCodeDurationMismatch, stage.Permanentf(
				"source declares %.1f s but chunk %d [%.3f s, %.3f s) could not be decoded whole (truncated or corrupt): %v",
				plan.Declared, item.Index, span.Start, span.Start+span.Duration, err))
		}
		prefix := item.Outputs().HLSPrefix() + r.Name + "/"
		objs = append(objs, object{filepath.Join(c.Dir, ffmpeg.InitName), prefix + ffmpeg.InitName, contentTypeInit})
		for _, s := range c.Segments() {
			objs = append(objs, object{filepath.Join(c.Dir, s.URI), prefix + s.URI, contentTypeSegment})
		}
		sum := sha256.Sum256(c.Init())
		marker.Rungs[r.Name], marker.Inits[r.Name], marker.Timescale[r.Name] = segInfos(c.Segments()), hex.EncodeToString(sum[:]), c.Timescale()
		if item.Index == 0 {
			codec, err := initCodec(c.Init(), r.Codec)
			if err != nil {
				return fmt.Errorf("rung %s: %w", r.Name, err)
			}
			marker.Codecs[r.Name] = codec
		}
	}
	if err := w.runActive(ctx, item.PlanKey); err != nil {
		return err // finished while this chunk was encoded: its segments are there
	}
	if err := w.putAll(ctx, objs); err != nil {
		return err
	}
	if err := w.putMarker(ctx, item.PlanKey, markerKey(item.VideoID, item.Run, chunkMarkerName(item.Index)), marker); err != nil {
		return err
	}
	done := w.doneEvent(item, plan, len(marker.Rungs[plan.Renditions[0].Name]), true)
	if err := stage.Publish(ctx, done, contract.WorkEventID(contract.StageTranscode, item.Run, item.Key(), "done")); err != nil {
		return err
	}
	log.Info("chunk done", "start_s", span.Start, "duration_s", span.Duration, "segments", span.Segments,
		"encode", encoded.Sub(start).Round(time.Millisecond), "elapsed", w.now().Sub(start).Round(time.Millisecond))
	return nil
}

func (w *Worker) doneEvent(item contract.TranscodeChunk, plan *Plan, segments int, complete bool) contract.TranscodeChunkDone {
	return contract.TranscodeChunkDone{SchemaVersion: contract.SchemaVersion, Video: item.Video, Run: item.Run,
		Kind: item.Kind, Index: item.Index, Chunks: item.Chunks, Segments: segments, Complete: complete,
		SegmentsTotal: plan.Segments}
}

// encodeAudio encodes the whole audio timeline once per audio bitrate,
// uploading segments while ffmpeg writes them and announcing progress (so
// the video is playable before the audio is finished).
func (w *Worker) encodeAudio(ctx context.Context, item contract.TranscodeChunk, plan *Plan, src, dir string) error {
	log := w.log.With("video_id", item.VideoID, "item", "audio")
	start := w.now()
	if plan.Source.Audio == nil || len(plan.AudioBitrates) == 0 {
		return stage.Coded(contract.ErrorCodeInvalidEvent, stage.Permanentf("audio work item for a plan without audio"))
	}
	enc := plan.Encoding
	enc.Threads = w.settings.Threads
	job := ffmpeg.AudioJob{Input: src, Source: &plan.Source, Bitrates: plan.AudioBitrates, Encoding: enc,
		MaxSeconds: plan.Declared + probe.Tolerance(plan.Declared)}
	// The loudness is measured here, once for the run: before the encode
	// when it is normalized, else alongside it; kept in a work marker, so
	// that a later attempt of this item reuses it.
	lkey := markerKey(item.VideoID, item.Run, loudnessMarkerName)
	var known *ffmpeg.Loudness
	var kept loudnessMarker
	if found, err := w.getJSON(ctx, lkey, &kept); err != nil {
		return err
	} else if found {
		m := kept.loudness()
		known = &m
	}
	keep := func(ctx context.Context, m ffmpeg.Loudness) error {
		return w.putMarker(ctx, item.PlanKey, lkey, newLoudnessMarker(m))
	}
	loud, err := w.planLoudness(ctx, item.VideoID, dir, src, &plan.Source, enc, job.MaxSeconds, known, keep)
	if err != nil {
		return err
	}
	defer loud.abandon()
	job.Loudnorm = loud.norm
	args, err := job.Args()
	if err != nil {
		return fmt.Errorf("ffmpeg audio command: %w", err)
	}
	cutters := make([]*ffmpeg.TrackCutter, len(plan.AudioBitrates))
	for i, b := range plan.AudioBitrates {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(ffmpeg.AudioDir(b))), 0o755); err != nil {
			return fmt.Errorf("output directory: %w", err)
		}
		cutters[i] = job.Cutter(dir, b)
		defer cutters[i].Close()
	}
	runner := w.runner
	runner.Logger = log
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- runner.Run(rctx, dir, args, plan.Declared) }()

	marker := audioMarker{Groups: map[string][]segInfo{}, Timescale: map[string]uint32{}}
	uploaded := map[string]int{} // group → segments uploaded
	announced, lastAnnounce := 0, time.Time{}
	// sync cuts what ffmpeg has written of each rendition into CMAF
	// segments, uploads the finished ones (the init with the first) and
	// announces progress; final: ffmpeg has exited.
	sync := func(final bool) error {
		n := math.MaxInt
		for i, b := range plan.AudioBitrates {
			g := ffmpeg.AudioGroup(b)
			c := cutters[i]
			var err error
			if final {
				err = c.Finish()
			} else {
				_, err = c.Poll()
			}
			if err != nil {
				return fmt.Errorf("audio %s: %w", g, err)
			}
			segs := c.Segments()
			if final && len(segs) == 0 {
				return fmt.Errorf("audio %s: no segments", g)
			}
			prefix := item.Outputs().HLSPrefix() + ffmpeg.AudioDirName + "/" + g + "/"
			var objs []object
			if uploaded[g] == 0 && len(segs) > 0 {
				objs = append(objs, object{filepath.Join(c.Dir, ffmpeg.InitName), prefix + ffmpeg.InitName, contentTypeInit})
				marker.Timescale[g] = c.Timescale()
			}
			for _, s := range segs[uploaded[g]:] {
				objs = append(objs, object{filepath.Join(c.Dir, s.URI), prefix + s.URI, contentTypeSegment})
			}
			if err := w.putAll(ctx, objs); err != nil {
				return err
			}
			marker.Groups[g] = append(marker.Groups[g], segInfos(segs[uploaded[g]:])...)
			uploaded[g] = len(segs)
			n = min(n, len(segs))
		}
		if n == math.MaxInt {
			n = 0
		}
		if !final && (n == announced || (announced > 0 && w.now().Sub(lastAnnounce) < audioProgressEvery)) {
			return nil
		}
		marker.Complete = final
		if err := w.putMarker(ctx, item.PlanKey, markerKey(item.VideoID, item.Run, audioMarkerName), marker); err != nil {
			return err
		}
		id := contract.WorkEventID(contract.StageTranscode, item.Run, item.Key(), "progress", strconv.Itoa(n))
		if final {
			id = contract.WorkEventID(contract.StageTranscode, item.Run, item.Key(), "done")
		}
		if err := stage.Publish(ctx, w.doneEvent(item, plan, n, final), id); err != nil {
			return err
		}
		announced, lastAnnounce = n, w.now()
		return nil
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-ran:
			if err != nil {
				if ctx.Err() == nil && errors.Is(err, ffmpeg.ErrRejected) {
					return stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanent(fmt.Errorf("transcode audio: %w", err)))
				}
				return fmt.Errorf("transcode audio: %w", err)
			}
			if marker.Loudness, err = loud.result(); err != nil {
				return err
			}
			if err := sync(true); err != nil {
				return err
			}
			log.Info("audio done", "segments", announced, "elapsed", w.now().Sub(start).Round(time.Millisecond))
			return nil
		case <-tick.C:
			if err := sync(false); err != nil {
				cancel()
				<-ran
				return err
			}
		}
	}
}
