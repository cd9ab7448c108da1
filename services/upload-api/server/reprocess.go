package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
)

// handleReprocess serves POST /v1/videos/{id}/reprocess: the whole
// pipeline runs again from the kept source as the next output generation
// (contract.Video.Generation; its objects under videos/{id}/g{N}/), while
// the current outputs stay served until the new ones are ready (see
// projection's generations). It publishes a video.uploaded for the same
// video with the generation and the ce_id contract.GenerationEventID(id,
// N), acknowledged by Kafka before the 202. One reprocess at a time
// (projection.Store.Reprocess): 409 while one is running, or accepted and
// not yet seen by the projection, or when the video is neither ready nor
// failed, or its source is no longer stored; 404 for a video that is not
// the caller's.
func handleReprocess(log *slog.Logger, o Options, objects *storage.Store, pub *publish.Publisher, status *projection.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := r.PathValue("id")
		if !contract.IsUUID(id) {
			writeError(w, r, log, errNotFound)
			return
		}
		var accepted projection.State
		gen, err := status.Reprocess(ctx, ownerFrom(ctx), id, reprocessable, func(ctx context.Context, st projection.State, gen int) error {
			accepted = st
			if _, err := objects.Stat(ctx, contract.SourceKey(id)); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return projection.Conflictf("the video's source is no longer stored: upload it again")
				}
				return unavailable(codeStorageUnavailable, "object storage is unavailable; try again later", err)
			}
			ev := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: st.Uploaded.Video}
			ev.VideoID, ev.Generation = id, gen
			if err := ev.Validate(); err != nil {
				return fmt.Errorf("reprocess %s: event does not validate: %w", id, err)
			}
			if _, err := pub.Publish(ctx, ev); err != nil {
				return unavailable(codeBrokerUnavailable, "the reprocess could not be started; try again later", err)
			}
			return nil
		})
		var conflict *projection.ConflictError
		var ae *apiError
		switch {
		case errors.Is(err, projection.ErrNotFound):
			writeError(w, r, log, errNotFound)
			return
		case errors.As(err, &conflict):
			writeError(w, r, log, errorf(http.StatusConflict, codeConflict, "%s", conflict.Reason))
			return
		case errors.As(err, &ae):
			writeError(w, r, log, err)
			return
		case err != nil:
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable; try again later", err))
			return
		}
		log.InfoContext(ctx, "reprocess accepted", "video_id", id, "generation", gen)
		w.Header().Set("Location", o.link("/v1/videos/"+id))
		writeJSON(w, http.StatusAccepted, actionResponse{ID: id, Status: string(accepted.Status), Generation: gen,
			Links: acceptedBody(o, id, false).Links})
	})
}

// reprocessable refuses (projection.ConflictError) a video that may not be
// reprocessed now: one whose reprocess is running, or that is neither
// ready nor failed, or whose upload document is unknown.
func reprocessable(st projection.State) error {
	switch {
	case st.Reprocessing != nil && st.Reprocessing.Status != projection.StatusFailed:
		return projection.Conflictf("a reprocess (generation %d) is already running: it is %s", st.Reprocessing.Generation, st.Reprocessing.Status)
	case !st.Complete && st.Status != projection.StatusFailed:
		return projection.Conflictf("the video is %s: only a ready or failed video can be reprocessed", st.Status)
	case st.Uploaded == nil:
		return projection.Conflictf("the video's upload is not known to the status projection")
	}
	return nil
}
