package stage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
)

// OutcomeDeleted counts, in vidpipe_stage_messages_total, records of a
// deleted video that the stage dropped (see [Fence]): nothing published,
// what the attempt wrote removed, the offset committed.
const OutcomeDeleted = "deleted"

// Fence keeps a stage from recreating a deleted video's data
// (DELETE /v1/videos/{id}: upload-api writes contract.TombstoneKey before it
// publishes video.deleted). With Options.Fence set, the runtime asks the
// fence about the video of every record it handles (contract.EventVideoID:
// for a work item, the video it is part of):
//
//   - before each attempt: a deleted video's record is dropped — the fence
//     removes what the stage owns of it (an earlier attempt may have
//     written some), nothing is published, no dead letter, the offset is
//     committed;
//   - after each attempt, before its output is published or its failure
//     retried or dead-lettered: if the video was deleted meanwhile, the
//     fence removes what the attempt wrote and the record is dropped (a
//     failure is often the deletion itself: the owner removed the source).
//
// Events a handler published itself with [Publish] during the attempt
// (work items) are already out; their consumers drop them in turn. A write
// that happened before the second check found no tombstone happened before
// the tombstone, so the owner's own video.deleted consumer (which runs
// after the tombstone) removes it. Errors of the fence are transient: the
// attempt is retried like any other failure.
type Fence interface {
	// Deleted reports whether video id was deleted.
	Deleted(ctx context.Context, videoID string) (bool, error)
	// Remove removes everything the stage writes for video id. It must be
	// idempotent (nothing to remove is no error).
	Remove(ctx context.Context, videoID string) error
}

// TombstoneStore is what [ObjectFence] needs of the object store
// (*storage.Store implements it).
type TombstoneStore interface {
	Stat(ctx context.Context, key string) (storage.ObjectInfo, error)
	RemovePrefix(ctx context.Context, prefix string) error
}

var _ TombstoneStore = (*storage.Store)(nil)

// ObjectFence is the [Fence] of a stage that writes objects: a video is
// deleted when its tombstone (contract.TombstoneKey) exists, and Remove
// removes every prefix the stage declares it owns.
type ObjectFence struct {
	Store TombstoneStore
	// Owned returns the key prefixes the stage writes under for a video,
	// each ending in "/" and lying under contract.OutputPrefix (e.g.
	// transcode: videos/{id}/mp4/, hls/, work/; thumbnail: videos/{id}/thumbs/).
	Owned func(videoID string) []string
}

// Deleted reports whether the tombstone of video id exists.
func (f ObjectFence) Deleted(ctx context.Context, videoID string) (bool, error) {
	_, err := f.Store.Stat(ctx, contract.TombstoneKey(videoID))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("fence: check tombstone of %s: %w", videoID, err)
}

// Remove removes every prefix the stage owns for video id. A prefix that is
// not under the video's own prefix (a bug) is refused.
func (f ObjectFence) Remove(ctx context.Context, videoID string) error {
	if !contract.IsUUID(videoID) {
		return fmt.Errorf("fence: remove outputs of %q: not a video id", videoID)
	}
	for _, p := range f.Owned(videoID) {
		if !contract.VideoOwnsKey(videoID, p) || p[len(p)-1] != '/' {
			return fmt.Errorf("fence: prefix %q is not a folder of video %s", p, videoID)
		}
		if err := f.Store.RemovePrefix(ctx, p); err != nil {
			return fmt.Errorf("fence: remove %s: %w", p, err)
		}
	}
	return nil
}

// fenced reports whether in's video is deleted, and then removes what the
// stage owns of it (see Fence). Without a fence it reports false.
func (r *runner[In, Out]) fenced(ctx context.Context, in In) (bool, error) {
	f := r.opts.Fence
	if f == nil {
		return false, nil
	}
	id := contract.EventVideoID(in)
	gone, err := f.Deleted(ctx, id)
	if err != nil || !gone {
		return false, err
	}
	if err := f.Remove(ctx, id); err != nil {
		return true, fmt.Errorf("remove outputs of deleted video %s: %w", id, err)
	}
	return true, nil
}

// fencedAttempt is attempt between the two checks of the fence: dropped
// is true when in's video is deleted (before or during the attempt) and
// its outputs are removed; err is then nil. A failing check or removal is
// the attempt's error.
func (r *runner[In, Out]) fencedAttempt(ctx context.Context, in In) (out Out, err error, d time.Duration, dropped bool) {
	var zero Out
	if gone, ferr := r.fenced(ctx, in); ferr != nil || gone {
		return zero, ferr, 0, ferr == nil
	}
	out, err, dd := r.attempt(ctx, in)
	if ctx.Err() != nil || r.opts.Fence == nil {
		return out, err, dd, false // revoked or shutting down: the caller decides
	}
	// Also after a failure: the owner may have removed the input's
	// objects (a source missing), which is no reason for a dead letter.
	gone, ferr := r.fenced(ctx, in)
	switch {
	case gone && ferr == nil:
		return zero, nil, dd, true
	case err != nil && !errors.Is(err, ErrNoOutput):
		return out, err, dd, false
	case ferr != nil:
		return zero, ferr, dd, false
	}
	return out, err, dd, false
}
