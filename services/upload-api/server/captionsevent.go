package server

import (
	"context"

	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
)

// captionsPublisher returns what announces a video's changed caption
// tracks to the indexer; nil (nothing announced) without a publisher.
func captionsPublisher(p *publish.Publisher) func(ctx context.Context, st projection.State, tracks []projection.Caption) error {
	return nil
}
