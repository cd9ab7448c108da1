package indexer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// The indexer owns the catalog row of a video. Its fence and its
// lifecycle consumers (group indexer-lifecycle) keep the row in step with
// the owner's DELETE and PATCH:
//
//   - video.deleted: the row is removed and the id recorded as deleted
//     (catalog.Delete), so no later upsert brings it back;
//   - video.updated: the newest edit is recorded and applied to the row,
//     or to the row once the video is indexed (catalog.Edit);
//   - video.captions: the cues of the changed caption track replace the
//     track's cues (catalog.PutCaptions; the newest change per track wins),
//     so search finds the video by what is said in it.

// Fence is the indexer's stage.Fence: a video is deleted once the
// indexer's video.deleted consumer recorded it in the catalog, and
// removing the indexer's data removes the catalog row.
type Fence struct{ Catalog *catalog.Catalog }

var _ stage.Fence = Fence{}

// Deleted reports whether video id is recorded as deleted.
func (f Fence) Deleted(ctx context.Context, id string) (bool, error) {
	return f.Catalog.Deleted(ctx, id)
}

// Remove removes video id's catalog row (and records it as deleted).
func (f Fence) Remove(ctx context.Context, id string) error {
	return f.Catalog.Delete(ctx, id, "", time.Now().UTC())
}

// HandleDeleted consumes video.deleted: it removes the video from the
// catalog for good (idempotent). It publishes nothing.
func (w *Worker) HandleDeleted(ctx context.Context, in contract.VideoDeleted) (contract.VideoDeleted, error) {
	if err := w.cat.Delete(ctx, in.VideoID, in.Owner, in.DeletedAt); err != nil {
		return contract.VideoDeleted{}, err
	}
	w.log.InfoContext(ctx, "video removed from the catalog", "video_id", in.VideoID)
	return contract.VideoDeleted{}, stage.ErrNoOutput
}

// HandleUpdated consumes video.updated: the edit is recorded and, when the
// video is in the catalog, applied to its entry (search finds the new
// title at once); an older edit than the one recorded changes nothing. An
// edit of a deleted video is dropped. It publishes nothing.
func (w *Worker) HandleUpdated(ctx context.Context, in contract.VideoUpdated) (contract.VideoUpdated, error) {
	applied, err := w.cat.Edit(ctx, in)
	switch {
	case errors.Is(err, catalog.ErrDeleted):
		w.log.InfoContext(ctx, "edit of a deleted video dropped", "video_id", in.VideoID)
		return contract.VideoUpdated{}, stage.ErrNoOutput
	case err != nil:
		if code := catalog.ErrorCode(err); code != "" {
			return contract.VideoUpdated{}, stage.Coded(code, stage.Permanent(err))
		}
		return contract.VideoUpdated{}, fmt.Errorf("apply edit: %w", err)
	}
	w.log.InfoContext(ctx, "video edit recorded", "video_id", in.VideoID, "applied", applied, "updated_at", in.UpdatedAt)
	return contract.VideoUpdated{}, stage.ErrNoOutput
}

// HandleCaptions consumes video.captions: the track's cues replace those
// indexed for it (none when the track was deleted), unless a newer change
// of the track was applied already (a replay changes nothing). Cues of a
// video not indexed yet are kept and found once it is; those of a deleted
// video are dropped. It publishes nothing.
func (w *Worker) HandleCaptions(ctx context.Context, in contract.VideoCaptions) (contract.VideoCaptions, error) {
	applied, err := w.cat.PutCaptions(ctx, in)
	switch {
	case errors.Is(err, catalog.ErrDeleted):
		w.log.InfoContext(ctx, "captions of a deleted video dropped", "video_id", in.VideoID, "language", in.Language)
		return contract.VideoCaptions{}, stage.ErrNoOutput
	case err != nil:
		if code := catalog.ErrorCode(err); code != "" {
			return contract.VideoCaptions{}, stage.Coded(code, stage.Permanent(err))
		}
		return contract.VideoCaptions{}, fmt.Errorf("index captions: %w", err)
	}
	w.log.InfoContext(ctx, "captions indexed", "video_id", in.VideoID, "language", in.Language,
		"cues", len(in.Cues), "deleted", in.Deleted, "applied", applied)
	return contract.VideoCaptions{}, stage.ErrNoOutput
}
