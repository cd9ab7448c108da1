package server

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// handleVideos serves GET /v1/videos: with a non-blank q, the full-text
// search over the caller's ready videos (handleSearch); without one (or a
// blank one), the caller's library (handleLibrary).
func handleVideos(log *slog.Logger, v viewer, cat *catalog.Catalog, status *projection.Store) http.Handler {
	search := handleSearch(log, v, cat, status)
	library := handleLibrary(log, v, status)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimSpace(r.URL.Query().Get("q")) != "" {
			search.ServeHTTP(w, r)
			return
		}
		library.ServeHTTP(w, r)
	})
}

// handleLibrary serves GET /v1/videos?limit=&cursor=&status= without q:
// every video of the caller that is not deleted, in any status (uploaded,
// playable, transcoded, thumbnailed, ready, failed), newest first, from
// the status projection (projection.Store.List), each item as GET
// /v1/videos/{id} shows it. limit is 1 to projection.MaxLibraryLimit
// (default projection.DefaultLibraryLimit); cursor is the next_cursor of
// the previous page (bound to the same status filter); status keeps only
// the videos in that status (a pipeline status or "failed"). The status
// filter is refused with a q (search covers ready videos only).
func handleLibrary(log *slog.Logger, v viewer, status *projection.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		qs := r.URL.Query()
		opts := projection.ListOptions{Cursor: qs.Get("cursor"), Status: qs.Get("status")}
		if s := qs.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > projection.MaxLibraryLimit {
				writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidQuery, "limit must be between 1 and %d", projection.MaxLibraryLimit))
				return
			}
			opts.Limit = n
		}
		states, next, err := status.List(ctx, ownerFrom(ctx), opts)
		switch {
		case errors.Is(err, projection.ErrInvalidCursor):
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidQuery, "invalid cursor (use the next_cursor of the previous page, with the same status filter)"))
			return
		case errors.Is(err, projection.ErrInvalidStatus):
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidQuery, "status must be one of %s or failed",
				strings.Join(status.Pipeline().Statuses(), ", ")))
			return
		case err != nil:
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable; try again later", err))
			return
		}
		resp := searchResponse{Items: make([]videoView, 0, len(states)), NextCursor: next}
		for _, st := range states {
			view, err := v.state(ctx, st)
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			resp.Items = append(resp.Items, view)
		}
		if next != "" {
			nq := url.Values{"cursor": {next}}
			if opts.Status != "" {
				nq.Set("status", opts.Status)
			}
			if opts.Limit > 0 {
				nq.Set("limit", strconv.Itoa(opts.Limit))
			}
			resp.Links = map[string]string{"next": v.opts.link("/v1/videos?" + nq.Encode())}
		}
		writeJSON(w, http.StatusOK, resp)
	})
}
