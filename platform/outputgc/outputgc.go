// Package outputgc removes a stage's outputs of superseded output
// generations (see contract.GenerationPrefix).
//
// A reprocess writes generation N beside the generation being served;
// once generation N is ready (video.ready with generation N), the older
// generations are superseded. Each stage removes its own objects of them:
// it runs a consumer of video.ready in its own group
// (contract.GCGroup(service): "transcode-gc", "thumbnail-gc") that, for a
// video.ready of generation N > 0, removes every object of the video under
// the stage's output folders (transcode: "mp4/", "hls/"; thumbnail:
// "thumbs/") of each generation below N, once a grace delay has passed
// since generation N was made (the stage's gc_delay setting, counted from
// the event's thumbnailed_at: its ready_at is the video's first), so that
// players that loaded the old generation's playlists just before the
// switch can finish. A video.ready of generation 0 supersedes nothing. The removal is idempotent (a redelivery, or a late
// video.ready of an older generation, removes what is left or nothing) and
// never touches generation N or newer, nor anything outside the listed
// folders (the source, the work state, another stage's outputs).
//
// The consumer runs on the stage runtime (platform/stage) with the
// stage's options, except that a removal that fails (storage unreachable)
// is retried GCMaxAttempts times, with the stage's backoff (at most
// stage.backoff_max apart): it waits for the storage rather than
// dead-lettering. Only a record that can never apply (undecodable) is
// dead-lettered, to the stage's DLQ with dlq.topic video.ready; POST
// /v1/videos/{id}/retry never redrives such a dead letter (it redrives the
// stage's input and work topics only), and neither should an operator
// (vidpipectl would publish it to the stage's input). Run it with
// [Consumer] as one of the stage's stage.RunConsumers: its metrics
// (consumer="gc") are served with the stage's and its liveness is part of
// the stage's /healthz.
package outputgc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
)

// Store is what a sweep needs of object storage (storage.Store).
type Store interface {
	List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error)
	Remove(ctx context.Context, key string) error
}

var _ Store = (*storage.Store)(nil)

// Sweep removes the objects of video videoID that lie in one of dirs
// (folder names relative to a generation prefix, e.g. "hls/") of a
// generation below current, and returns how many it removed. With current
// 0 it removes nothing.
func Sweep(ctx context.Context, store Store, videoID string, current int, dirs []string) (int, error) {
	if current <= 0 || len(dirs) == 0 {
		return 0, nil
	}
	objs, err := store.List(ctx, contract.OutputPrefix(videoID))
	if err != nil {
		return 0, fmt.Errorf("list outputs of %s: %w", videoID, err)
	}
	removed := 0
	for _, o := range objs {
		gen, ok := contract.KeyGeneration(videoID, o.Key)
		if !ok || gen >= current {
			continue
		}
		rest := strings.TrimPrefix(o.Key, contract.GenerationPrefix(videoID, gen))
		if !hasDirPrefix(rest, dirs) {
			continue
		}
		if err := store.Remove(ctx, o.Key); err != nil {
			return removed, fmt.Errorf("remove superseded output %s: %w", o.Key, err)
		}
		removed++
	}
	return removed, nil
}

// RemoveAll removes the objects of video videoID in dirs of every
// generation (e.g. when the video is deleted: generation N > 0 lies under
// videos/{id}/g{N}/, which a removal of the generation-0 folders misses),
// and returns how many it removed.
func RemoveAll(ctx context.Context, store Store, videoID string, dirs []string) (int, error) {
	return Sweep(ctx, store, videoID, contract.MaxGeneration+1, dirs)
}

func hasDirPrefix(rest string, dirs []string) bool {
	for _, d := range dirs {
		if d != "" && strings.HasPrefix(rest, d) {
			return true
		}
	}
	return false
}

// Handler returns the stage handler of the GC consumer: for a video.ready
// of generation N > 0 it waits until delay after the event's
// thumbnailed_at (or ready_at, if later), then sweeps (see Sweep) the
// video; it publishes nothing (stage.ErrNoOutput). The records of a
// partition are ready events in about the order they were made, so the
// wait delays each by about delay; keep delay well below the stage's
// stage.attempt_timeout, which bounds the wait.
func Handler(store Store, log *slog.Logger, delay time.Duration, dirs ...string) stage.Handler[contract.VideoReady, contract.VideoReady] {
	return func(ctx context.Context, in contract.VideoReady) (contract.VideoReady, error) {
		var zero contract.VideoReady
		if in.Generation == 0 {
			return zero, stage.ErrNoOutput
		}
		made := in.ThumbnailedAt
		if in.ReadyAt.After(made) {
			made = in.ReadyAt
		}
		if wait := time.Until(made.Add(delay)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return zero, ctx.Err()
			case <-t.C:
			}
		}
		n, err := Sweep(ctx, store, in.VideoID, in.Generation, dirs)
		if err != nil {
			return zero, err
		}
		if n > 0 {
			log.InfoContext(ctx, "superseded outputs removed", "video_id", in.VideoID, "generation", in.Generation, "objects", n)
		}
		return zero, stage.ErrNoOutput
	}
}

// GCMaxAttempts is the stage.max_attempts of a GC consumer: a failing
// removal is retried (stage.backoff_max apart) rather than dead-lettered.
const GCMaxAttempts = 100_000

// Options derives the options of the GC consumer from the stage's
// serving options: input video.ready, group contract.GCGroup(service),
// no HTTP listener, a registry of its own (stage.RunConsumers replaces it
// with the serving consumer's), GCMaxAttempts attempts; the
// rest (Kafka, runtime settings, logger, checks, DLQ) as the stage's.
func Options(serving stage.Options) stage.Options {
	o := serving
	service := o.Service
	if service == "" {
		service = string(o.Stage)
	}
	o.InputTopic, o.OutputTopic = contract.TopicReady, contract.TopicReady // never published to: ErrNoOutput
	o.Group = contract.GCGroup(service)
	o.Consumer, o.NoHTTP, o.Registry = "gc", true, prometheus.NewRegistry()
	o.Liveness, o.OnLiveness, o.Listening, o.Spread = nil, nil, nil, nil
	o.Runtime.MaxAttempts = GCMaxAttempts
	return o
}

// Consumer is the GC consumer of a stage (Options(serving), Handler with
// store, delay and dirs) as one of the consumers stage.RunConsumers runs
// beside the stage's own: its liveness joins the serving consumer's
// /healthz and its metrics the serving consumer's registry.
func Consumer(serving stage.Options, store Store, delay time.Duration, dirs []string) stage.Consumer {
	log := serving.Logger
	if log == nil {
		log = slog.Default()
	}
	return stage.Consumer{
		Options: Options(serving),
		Run: func(ctx context.Context, o stage.Options) error {
			return stage.Run(ctx, o, Handler(store, log, delay, dirs...))
		},
	}
}

// Fence extends a stage's object fence to every output generation: Remove
// removes the fence's own prefixes (generation 0 and the stage's work
// state) and then dirs of every generation N > 0 (RemoveAll), so deleting
// a reprocessed video leaves none of its videos/{id}/g{N}/ behind.
func Fence(f stage.ObjectFence, store Store, dirs []string) stage.Fence {
	return generationFence{ObjectFence: f, store: store, dirs: dirs}
}

type generationFence struct {
	stage.ObjectFence
	store Store
	dirs  []string
}

func (f generationFence) Remove(ctx context.Context, videoID string) error {
	if err := f.ObjectFence.Remove(ctx, videoID); err != nil {
		return err
	}
	if _, err := RemoveAll(ctx, f.store, videoID, f.dirs); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	return nil
}
