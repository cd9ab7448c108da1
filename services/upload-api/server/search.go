package server

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// searchResponse is the body of GET /v1/videos.
type searchResponse struct {
	Items      []videoView       `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
	Links      map[string]string `json:"links,omitempty"`
}

// handleSearch serves GET /v1/videos?q=&limit=&cursor= with a non-blank q
// (handleVideos sends the others to the library): full-text search
// over the caller's ready videos in the indexer's catalog, best match
// first (a blank q would list them, most recently ready first). limit is 1 to
// catalog.MaxLimit (default catalog.DefaultLimit); cursor is the
// next_cursor of the previous page. A video its owner deleted is left out
// (status, when not nil, knows it at once; the catalog once the indexer
// consumed video.deleted), so a page may hold fewer than limit items.
func handleSearch(log *slog.Logger, v viewer, cat *catalog.Catalog, status *projection.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		qs := r.URL.Query()
		q, cursor := qs.Get("q"), qs.Get("cursor")
		if qs.Has("status") {
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidQuery, "status filters the library (no q); search covers ready videos only"))
			return
		}
		limit := 0
		if s := qs.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > catalog.MaxLimit {
				writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidQuery, "limit must be between 1 and %d", catalog.MaxLimit))
				return
			}
			limit = n
		}
		if len(q) > catalog.MaxQueryLen {
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidQuery, "q is longer than %d bytes", catalog.MaxQueryLen))
			return
		}
		if cat == nil {
			writeError(w, r, log, errorf(http.StatusServiceUnavailable, codeSearchUnavailable, "search is not configured"))
			return
		}
		results, next, err := cat.Search(ctx, ownerFrom(ctx), q, limit, cursor)
		switch {
		case errors.Is(err, catalog.ErrInvalidCursor):
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidQuery, "invalid cursor"))
			return
		case errors.Is(err, catalog.ErrInvalidQuery):
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidQuery, "invalid query"))
			return
		case err != nil:
			writeError(w, r, log, unavailable(codeSearchUnavailable, "search is unavailable; try again later", err))
			return
		}
		var deleted map[string]bool
		if status != nil && len(results) > 0 {
			ids := make([]string, len(results))
			for i, res := range results {
				ids[i] = res.Document.VideoID
			}
			if deleted, err = status.DeletedAmong(ctx, ids); err != nil {
				writeError(w, r, log, unavailable(codeSearchUnavailable, "search is unavailable; try again later", err))
				return
			}
		}
		resp := searchResponse{Items: make([]videoView, 0, len(results)), NextCursor: next}
		for _, res := range results {
			if deleted[res.Document.VideoID] {
				continue
			}
			view, err := v.document(ctx, res.Document)
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			view.CaptionHits = captionHitViews(res.CaptionHits)
			resp.Items = append(resp.Items, view)
		}
		if next != "" {
			nq := url.Values{"cursor": {next}}
			if q != "" {
				nq.Set("q", q)
			}
			if limit > 0 {
				nq.Set("limit", strconv.Itoa(limit))
			}
			resp.Links = map[string]string{"next": v.opts.link("/v1/videos?" + nq.Encode())}
		}
		writeJSON(w, http.StatusOK, resp)
	})
}
