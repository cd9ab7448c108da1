package endpoints

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vidpipe/vidpipe/services/webhooks/ssrf"
)

// Error is an answer meant for the client: status, a stable code and a
// message safe to show. upload-api turns it into its own error answer
// ({"error": {"code", "message"}}).
type Error struct {
	Status  int
	Code    string
	Message string
	cause   error
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Unwrap returns the internal cause (logged, never shown), if any.
func (e *Error) Unwrap() error { return e.cause }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error codes of the webhook API (the same strings as upload-api's).
const (
	CodeBadRequest   = "bad_request"
	CodeInvalidField = "invalid_field"
	CodeUnknownField = "unknown_field"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
)

var errEndpointNotFound = errorf(http.StatusNotFound, CodeNotFound, "webhook endpoint not found")

// APIOptions configure an API. Zero values take the defaults named.
type APIOptions struct {
	// Guard validates endpoint URLs at creation (SSRF; https unless
	// AllowPrivate).
	Guard ssrf.Guard
	// MaxEndpoints is how many endpoints one user may have. Default: 20.
	MaxEndpoints int
	// SecretGrace is how long the previous secret keeps signing after a
	// rotation. Default: 0, none (upload-api sets webhooks.secret_grace, 24h).
	SecretGrace time.Duration
	// Retention is how far back replay reaches (webhooks.event_retention).
	// Default: 720h.
	Retention time.Duration
	// MaxBodyBytes bounds a request body. Default: 64 KiB.
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// API serves /v1/webhooks. Mount it with For, which supplies the
// authenticated user and the error writer of the server it is mounted on.
type API struct {
	store      *Store
	opts       APIOptions
	owner      func(context.Context) string
	writeError func(http.ResponseWriter, *http.Request, error)
	writeJSON  func(http.ResponseWriter, int, any)
}

// NewAPI returns the webhook API on store.
func NewAPI(store *Store, opts APIOptions) *API {
	if opts.MaxEndpoints <= 0 {
		opts.MaxEndpoints = 20
	}
	if opts.SecretGrace < 0 {
		opts.SecretGrace = 0
	}
	if opts.Retention <= 0 {
		opts.Retention = 720 * time.Hour
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &API{store: store, opts: opts}
	a.writeJSON = writeJSON
	a.writeError = func(w http.ResponseWriter, r *http.Request, err error) {
		var e *Error
		if !errors.As(err, &e) {
			a.opts.Logger.ErrorContext(r.Context(), "internal error", "route", r.Pattern, "err", err)
			e = errorf(http.StatusInternalServerError, "internal", "internal error")
		}
		writeJSON(w, e.Status, map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
	}
	return a
}

// For returns a copy of a whose handlers take the user from owner (the
// server's authentication puts it in the request context; "" is refused
// with 401) and answer errors with writeError and JSON with writeJSON
// (nil: a's own, same shape).
func (a *API) For(owner func(context.Context) string, writeError func(http.ResponseWriter, *http.Request, error),
	writeJSON func(http.ResponseWriter, int, any)) *API {
	b := *a
	b.owner = owner
	if writeError != nil {
		b.writeError = writeError
	}
	if writeJSON != nil {
		b.writeJSON = writeJSON
	}
	return &b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// handle runs fn with the authenticated owner and answers its error.
func (a *API) handle(fn func(w http.ResponseWriter, r *http.Request, owner string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		owner := ""
		if a.owner != nil {
			owner = a.owner(r.Context())
		}
		if owner == "" {
			a.writeError(w, r, errorf(http.StatusUnauthorized, "unauthorized", "missing authentication"))
			return
		}
		if err := fn(w, r, owner); err != nil {
			if errors.Is(err, ErrNotFound) {
				err = errEndpointNotFound
			}
			a.writeError(w, r, err)
		}
	})
}

// decode reads a JSON body into v: bounded, unknown fields refused.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_content_type", "send application/json (got %q)", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "body exceeds %d bytes", a.opts.MaxBodyBytes)
		case errors.Is(err, io.EOF):
			return errorf(http.StatusBadRequest, CodeBadRequest, "empty body: send a JSON object")
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return errorf(http.StatusBadRequest, CodeUnknownField, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return errorf(http.StatusBadRequest, CodeBadRequest, "body is not valid JSON: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, CodeBadRequest, "body must be one JSON object")
	}
	return nil
}

// createRequest is the body of POST /v1/webhooks.
type createRequest struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"`
	Description string   `json:"description"`
}

// withSecret is an endpoint with its secret: the answer of create and
// rotate-secret, the only ones that show it.
type withSecret struct {
	Endpoint
	Secret string `json:"secret"`
}

const (
	maxURLLen         = 2048
	maxDescriptionLen = 512
)

// validTypes checks and normalizes event types: each known, or only "*".
func validTypes(ts []string) ([]string, error) {
	if len(ts) == 0 {
		return nil, errorf(http.StatusBadRequest, CodeInvalidField, `event_types: give at least one of %s, or ["*"]`, strings.Join(EventTypes, ", "))
	}
	var out []string
	for _, t := range ts {
		switch {
		case t == TypeAll:
			if len(ts) > 1 {
				return nil, errorf(http.StatusBadRequest, CodeInvalidField, `event_types: "*" stands alone`)
			}
		case !KnownType(t):
			return nil, errorf(http.StatusBadRequest, CodeInvalidField, "event_types: unknown event type %q (known: %s)", trunc(t, 64), strings.Join(EventTypes, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Create is POST /v1/webhooks: 201 with the endpoint and its secret.
func (a *API) Create() http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request, owner string) error {
		var req createRequest
		if err := a.decode(w, r, &req); err != nil {
			return err
		}
		types, err := validTypes(req.EventTypes)
		if err != nil {
			return err
		}
		switch {
		case req.URL == "":
			return errorf(http.StatusBadRequest, CodeInvalidField, "url: required")
		case len(req.URL) > maxURLLen:
			return errorf(http.StatusBadRequest, CodeInvalidField, "url: longer than %d bytes", maxURLLen)
		case len(req.Description) > maxDescriptionLen || !utf8.ValidString(req.Description):
			return errorf(http.StatusBadRequest, CodeInvalidField, "description: at most %d bytes of UTF-8", maxDescriptionLen)
		}
		if strings.ContainsFunc(req.Description, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return errorf(http.StatusBadRequest, CodeInvalidField, "description: no control characters")
		}
		if err := a.opts.Guard.CheckURL(r.Context(), req.URL); err != nil {
			return errorf(http.StatusBadRequest, CodeInvalidField, "url: %v", err)
		}
		e, secret, err := a.store.Create(r.Context(), owner, NewEndpoint{URL: req.URL, Description: req.Description, EventTypes: types, Max: a.opts.MaxEndpoints})
		var limit *LimitError
		if errors.As(err, &limit) {
			return errorf(http.StatusConflict, CodeConflict, "you have %d webhook endpoints, the most allowed: delete one first", limit.Count)
		}
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/v1/webhooks/"+e.ID)
		a.writeJSON(w, http.StatusCreated, withSecret{Endpoint: e, Secret: secret})
		return nil
	})
}

// List is GET /v1/webhooks: the user's endpoints, without secrets.
func (a *API) List() http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request, owner string) error {
		es, err := a.store.List(r.Context(), owner)
		if err != nil {
			return err
		}
		a.writeJSON(w, http.StatusOK, map[string]any{"webhooks": es})
		return nil
	})
}

// Get is GET /v1/webhooks/{id}.
func (a *API) Get() http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request, owner string) error {
		e, err := a.store.Get(r.Context(), owner, r.PathValue("id"))
		if err != nil {
			return err
		}
		a.writeJSON(w, http.StatusOK, e)
		return nil
	})
}

// Delete is DELETE /v1/webhooks/{id}: 204.
func (a *API) Delete() http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request, owner string) error {
		if err := a.store.Delete(r.Context(), owner, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// RotateSecret is POST /v1/webhooks/{id}/rotate-secret: the endpoint with
// its new secret (shown once); the old one keeps signing for the grace.
func (a *API) RotateSecret() http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request, owner string) error {
		e, secret, err := a.store.RotateSecret(r.Context(), owner, r.PathValue("id"), a.opts.SecretGrace)
		if err != nil {
			return err
		}
		a.writeJSON(w, http.StatusOK, withSecret{Endpoint: e, Secret: secret})
		return nil
	})
}

// Enable is POST /v1/webhooks/{id}/enable: re-enables a disabled endpoint.
func (a *API) Enable() http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request, owner string) error {
		e, err := a.store.Enable(r.Context(), owner, r.PathValue("id"))
		if err != nil {
			return err
		}
		a.writeJSON(w, http.StatusOK, e)
		return nil
	})
}

// Page sizes of the delivery log.
const (
	defaultPage = 50
	maxPage     = 200
)

// Deliveries is GET /v1/webhooks/{id}/deliveries?limit=N&cursor=C: the
// delivery log, newest first; next_cursor continues it.
func (a *API) Deliveries() http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request, owner string) error {
		q := r.URL.Query()
		limit := defaultPage
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxPage {
				return errorf(http.StatusBadRequest, CodeInvalidField, "limit: an integer from 1 to %d", maxPage)
			}
			limit = n
		}
		var before int64
		if s := q.Get("cursor"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 {
				return errorf(http.StatusBadRequest, CodeInvalidField, "cursor: not a cursor of this log")
			}
			before = n
		}
		ds, err := a.store.Deliveries(r.Context(), owner, r.PathValue("id"), before, limit+1)
		if err != nil {
			return err
		}
		body := map[string]any{}
		if len(ds) > limit {
			ds = ds[:limit]
			body["next_cursor"] = strconv.FormatInt(ds[len(ds)-1].ID, 10)
		}
		body["deliveries"] = ds
		a.writeJSON(w, http.StatusOK, body)
		return nil
	})
}

// replayRequest is the body of POST /v1/webhooks/{id}/replay.
type replayRequest struct {
	Since string `json:"since"`
}

// Replay is POST /v1/webhooks/{id}/replay {"since": RFC 3339}: 202 with
// the number of deliveries enqueued again.
func (a *API) Replay() http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request, owner string) error {
		var req replayRequest
		if err := a.decode(w, r, &req); err != nil {
			return err
		}
		since, err := time.Parse(time.RFC3339, req.Since)
		if err != nil {
			return errorf(http.StatusBadRequest, CodeInvalidField, "since: an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
		}
		now := time.Now()
		if since.After(now) {
			return errorf(http.StatusBadRequest, CodeInvalidField, "since: in the future")
		}
		if since.Before(now.Add(-a.opts.Retention)) {
			return errorf(http.StatusBadRequest, CodeInvalidField, "since: events are kept for %s; give a later time", a.opts.Retention)
		}
		n, err := a.store.Replay(r.Context(), owner, r.PathValue("id"), since)
		if err != nil {
			return err
		}
		a.writeJSON(w, http.StatusAccepted, map[string]any{"replayed": n, "since": since.UTC()})
		return nil
	})
}
