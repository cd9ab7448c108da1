package server

import (
	"log/slog"
	"net/http"
	"strings"
)

// addRoutes lists every route of the API listener (api.addr). /readyz
// and /metrics are not among them: they are on the operations listener
// (addOpsRoutes).
func addRoutes(mux *http.ServeMux, d Deps) {
	log, o := d.Logger, d.Options
	in := &intake{log: log, objects: d.Objects, pub: d.Publisher, status: d.Status, metrics: d.Metrics}
	v := viewer{objects: d.Objects, opts: o}
	auth := func(h http.Handler) http.Handler { return requireAuth(d.Auth, log, h) }

	// Operations (no auth): liveness for load balancers, this API's document.
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /openapi.yaml", handleOpenAPI())

	// Videos.
	mux.Handle("POST /v1/videos", auth(handleUpload(log, o, d.Limits, in)))
	mux.Handle("GET /v1/videos", auth(handleVideos(log, v, d.Catalog, d.Status)))
	mux.Handle("GET /v1/videos/{id}", auth(handleGetVideo(log, v, d.Status)))
	mux.Handle("GET /v1/videos/{id}/events", auth(handleEvents(log, o, d.Limits, v, d.Status)))
	mux.Handle("POST /v1/videos/{id}/retry", auth(handleRetry(log, o, d.Status, d.Redriver)))
	mux.Handle("POST /v1/videos/{id}/reprocess", auth(handleReprocess(log, o, d.Objects, d.Publisher, d.Status)))
	// Lifecycle: delete, edit the metadata (lifecycle.go).
	lc := &lifecycle{log: log, objects: d.Objects, pub: d.Publisher, status: d.Status, tus: d.Tus}
	mux.Handle("DELETE /v1/videos/{id}", auth(handleDeleteVideo(log, lc)))
	mux.Handle("PATCH /v1/videos/{id}", auth(handlePatchVideo(log, v, lc)))
	// Caption tracks (captions.go; in the HLS master: hlscaptions.go).
	cs := &captionStore{log: log, o: o, objects: d.Objects, status: d.Status, published: captionsPublisher(d.Publisher)}
	mux.Handle("POST /v1/videos/{id}/captions", auth(handlePostCaption(cs)))
	mux.Handle("GET /v1/videos/{id}/captions", auth(handleListCaptions(cs)))
	mux.Handle("DELETE /v1/videos/{id}/captions/{language}", auth(handleDeleteCaption(cs)))
	// Signed URL or bearer token, checked inside.
	mux.Handle("GET /v1/videos/{id}/hls/{path...}", handleHLS(log, o, d.Limits, d.Auth, d.Objects, d.Status))
	// The same package as DASH (dash.go), signed the same way.
	mux.Handle("GET /v1/videos/{id}/dash/manifest.mpd", handleDASH(log, o, d.Limits, d.Auth, d.Objects, d.Status))

	// Signed URL or bearer token, checked inside (sprite.go).
	mux.Handle("GET /v1/videos/{id}/thumbnails/sprite.vtt", handleSpriteVTT(log, o, d.Auth, d.Objects, d.Status))
	// The caller, and every change of the caller's videos (web app).
	mux.Handle("GET /v1/me", auth(handleMe(d.Auth)))
	mux.Handle("GET /v1/events", auth(handleUserEvents(log, o, d.Limits, v, d.Status)))
	// Admin (api.admins): stage lag, dead letters, redrive (admin.go).
	admin := func(h http.Handler) http.Handler { return auth(requireAdmin(d.Auth, log, h)) }
	dl, kc := d.admin()
	mux.Handle("GET /v1/admin/stages", admin(handleAdminStages(log, d.pipeline(), kc, dl)))
	mux.Handle("GET /v1/admin/dead-letters", admin(handleAdminDeadLetters(log, d.pipeline(), dl)))
	mux.Handle("POST /v1/admin/dead-letters/redrive", admin(handleAdminRedrive(log, d.pipeline(), d.Status, dl)))

	// Storage quota and usage.
	mux.Handle("GET /v1/usage", auth(handleUsage(log, d.Limits, d.Status)))

	// Resumable uploads (tus 1.0).
	if t := d.Tus; t != nil {
		mux.Handle("POST /v1/uploads/{$}", auth(t.Create()))
		mux.Handle("POST /v1/uploads", auth(t.Create()))
		mux.Handle("HEAD /v1/uploads/{id}", auth(t.Head()))
		mux.Handle("PATCH /v1/uploads/{id}", auth(t.Patch()))
		mux.Handle("DELETE /v1/uploads/{id}", auth(t.Terminate()))
		mux.Handle("OPTIONS /v1/uploads/{$}", t.Options())
		mux.Handle("OPTIONS /v1/uploads/{id}", t.Options())
	}

	// Webhook endpoints (package services/webhooks/endpoints), per user.
	if wh := d.Webhooks; wh != nil {
		wh = wh.For(ownerFrom, func(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, log, webhookError(err)) }, writeJSON)
		mux.Handle("POST /v1/webhooks", auth(wh.Create()))
		mux.Handle("GET /v1/webhooks", auth(wh.List()))
		mux.Handle("GET /v1/webhooks/{id}", auth(wh.Get()))
		mux.Handle("DELETE /v1/webhooks/{id}", auth(wh.Delete()))
		mux.Handle("POST /v1/webhooks/{id}/rotate-secret", auth(wh.RotateSecret()))
		mux.Handle("POST /v1/webhooks/{id}/enable", auth(wh.Enable()))
		mux.Handle("GET /v1/webhooks/{id}/deliveries", auth(wh.Deliveries()))
		mux.Handle("POST /v1/webhooks/{id}/replay", auth(wh.Replay()))
		for path, allow := range map[string]string{
			"/v1/webhooks":                    "GET, HEAD, POST",
			"/v1/webhooks/{id}":               "GET, HEAD, DELETE",
			"/v1/webhooks/{id}/rotate-secret": "POST",
			"/v1/webhooks/{id}/enable":        "POST",
			"/v1/webhooks/{id}/deliveries":    "GET, HEAD",
			"/v1/webhooks/{id}/replay":        "POST",
		} {
			mux.Handle(path, methodNotAllowed(log, allow))
		}
	}

	// JSON answers for wrong methods and unknown paths.
	for path, allow := range map[string]string{
		"/healthz":                          "GET, HEAD",
		"/openapi.yaml":                     "GET, HEAD",
		"/v1/videos":                        "GET, HEAD, POST",
		"/v1/videos/{id}":                   "GET, HEAD, PATCH, DELETE",
		"/v1/videos/{id}/events":            "GET, HEAD",
		"/v1/videos/{id}/retry":             "POST",
		"/v1/videos/{id}/reprocess":         "POST",
		"/v1/videos/{id}/hls/{path...}":     "GET, HEAD",
		"/v1/videos/{id}/dash/manifest.mpd": "GET, HEAD",
		"/v1/usage":                         "GET, HEAD",
		"/v1/uploads/{$}":                   "POST, OPTIONS",
		"/v1/uploads":                       "POST, OPTIONS",
		"/v1/uploads/{id}":                  "HEAD, PATCH, DELETE, OPTIONS",
	} {
		mux.Handle(path, methodNotAllowed(log, allow))
	}
	// The web app's API routes (me, events, sprite, admin).
	for path, allow := range map[string]string{
		"/v1/videos/{id}/thumbnails/sprite.vtt": "GET, HEAD",
		"/v1/me":                                "GET, HEAD",
		"/v1/events":                            "GET, HEAD",
		"/v1/admin/stages":                      "GET, HEAD",
		"/v1/admin/dead-letters":                "GET, HEAD",
		"/v1/admin/dead-letters/redrive":        "POST",
		"/v1/videos/{id}/captions":              "GET, HEAD, POST",
		"/v1/videos/{id}/captions/{language}":   "DELETE",
	} {
		mux.Handle(path, methodNotAllowed(log, allow))
	}
	// Anything else: JSON 404 under /v1/, else the web app (webapp.go).
	mux.Handle("/", handleRoot(log, d.Objects))
}

// addOpsRoutes lists every route of the operations listener
// (api.ops_addr): liveness, readiness and Prometheus metrics, without
// authentication, for probes and scrapers rather than clients. They are
// not in openapi.yaml, which describes the API listener.
func addOpsRoutes(ops *http.ServeMux, d Deps) {
	log := d.Logger
	ops.Handle("GET /healthz", handleHealthz())
	ops.Handle("GET /readyz", handleReadyz(log, d.Ready))
	ops.Handle("GET /metrics", d.Metrics.handler())
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		ops.Handle(path, methodNotAllowed(log, "GET, HEAD"))
	}
	ops.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, log, errorf(http.StatusNotFound, codeNotFound, "no such route on the operations listener (/healthz, /readyz, /metrics)"))
	}))
}

func methodNotAllowed(log *slog.Logger, allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, r, log, errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed,
			"method %s is not allowed here (allowed: %s)", r.Method, strings.ReplaceAll(allow, " ", "")))
	})
}
