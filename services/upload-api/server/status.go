package server

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// handleGetVideo serves GET /v1/videos/{id}: the video's status from the
// projection. Someone else's video answers exactly like a missing one (404).
func handleGetVideo(log *slog.Logger, v viewer, status *projection.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := r.PathValue("id")
		if !contract.IsUUID(id) {
			writeError(w, r, log, errNotFound)
			return
		}
		st, err := status.Get(ctx, ownerFrom(ctx), id)
		if err != nil {
			if errors.Is(err, projection.ErrNotFound) {
				writeError(w, r, log, errNotFound)
				return
			}
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable; try again later", err))
			return
		}
		view, err := v.state(ctx, st)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, view)
	})
}
