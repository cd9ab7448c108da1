package indexer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// Worker is the indexer's stage handler.
type Worker struct {
	cat *catalog.Catalog
	log *slog.Logger
	now func() time.Time
}

// NewWorker returns a Worker writing to cat. log may be nil (slog.Default).
func NewWorker(cat *catalog.Catalog, log *slog.Logger) *Worker {
	if log == nil {
		log = slog.Default()
	}
	return &Worker{cat: cat, log: log, now: time.Now}
}

// Handle upserts the video into the catalog and returns the video.ready
// document as stored.
//
// It is idempotent: ready_at is the time the video first became ready
// (kept on every later upsert), and replaying the same event writes
// nothing and returns the very same document; so does an event that
// differs only in transcoded_at or thumbnailed_at (an upstream stage
// re-processed a redelivered record and made the same video). A document
// the catalog rejects as invalid is a permanent error with its user-safe
// code (catalog.ErrorCode: invalid_event, or too_large); a database that is
// down or slow is a transient one (retried by the runtime). A video its
// owner deleted is not indexed and nothing is published (ErrNoOutput); the
// newest metadata edit, if any, is in the stored document (catalog.Upsert).
func (w *Worker) Handle(ctx context.Context, in contract.VideoThumbnailed) (contract.VideoReady, error) {
	// PostgreSQL keeps microseconds: truncate so the column and the
	// document agree.
	doc := in.Ready(w.now().Truncate(time.Microsecond))
	stored, changed, err := w.cat.Upsert(ctx, doc)
	if errors.Is(err, catalog.ErrDeleted) {
		w.log.InfoContext(ctx, "video deleted by its owner: not indexed", "video_id", in.VideoID)
		return contract.VideoReady{}, stage.ErrNoOutput
	}
	if err != nil {
		if code := catalog.ErrorCode(err); code != "" {
			return contract.VideoReady{}, stage.Coded(code, stage.Permanent(err))
		}
		return contract.VideoReady{}, err
	}
	w.log.InfoContext(ctx, "video indexed", "video_id", stored.VideoID, "changed", changed,
		"ready_at", stored.ReadyAt)
	return stored, nil
}
