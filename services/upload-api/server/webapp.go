package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/web"
)

// handleRoot is the catch-all route: API paths (/v1/..., and /healthz and
// /openapi.yaml with a trailing path) that no other route matched keep
// their JSON 404, and so does any other method than GET and HEAD on a path
// that is not the app's (a page or an asset: those answer 405);
// everything else is the web app (package web), which answers its pages,
// its assets, or its "not found" page.
func handleRoot(log *slog.Logger, objects *storage.Store) http.Handler {
	app := web.Handler(web.WithMediaOrigins(storageOrigin(objects)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAPIPath(r.URL.Path) || (r.Method != http.MethodGet && r.Method != http.MethodHead && !web.Serves(r.URL.Path)) {
			writeError(w, r, log, errorf(http.StatusNotFound, codeNotFound, "no such route"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, r, log, errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed,
				"method %s is not allowed here (allowed: GET,HEAD)", r.Method))
			return
		}
		app.ServeHTTP(w, r)
	})
}

// isAPIPath reports whether p belongs to the API rather than the app.
func isAPIPath(p string) bool {
	for _, prefix := range []string{"/v1", "/healthz", "/openapi.yaml", "/readyz", "/metrics"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return true
		}
	}
	return false
}

// storageOrigin is the scheme://host[:port] presigned URLs point at (the
// storage's public endpoint), found by signing a URL (signing makes no
// request); "" without a store.
func storageOrigin(objects *storage.Store) string {
	if objects == nil {
		return ""
	}
	u, err := objects.PresignGet(context.Background(), "origin-probe", time.Minute)
	if err != nil {
		return ""
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return ""
	}
	return pu.Scheme + "://" + pu.Host
}
