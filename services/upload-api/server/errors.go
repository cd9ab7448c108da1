package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Error codes of the API, in {"error": {"code": ..., "message": ...}}.
const (
	codeBadRequest          = "bad_request"
	codeMalformedMultipart  = "malformed_multipart"
	codeMissingFile         = "missing_file"
	codeEmptyFile           = "empty_file"
	codeInvalidField        = "invalid_field"
	codeUnknownField        = "unknown_field"
	codeFieldTooLarge       = "field_too_large"
	codeFileTooLarge        = "file_too_large"
	codeBodyTooLarge        = "body_too_large"
	codeUnsupportedMedia    = "unsupported_media_type"
	codeUnsupportedContent  = "unsupported_content_type"
	codeUnauthorized        = "unauthorized"
	codeNotFound            = "not_found"
	codeMethodNotAllowed    = "method_not_allowed"
	codeConflict            = "conflict"
	codeBrokerUnavailable   = "broker_unavailable"
	codeStorageUnavailable  = "storage_unavailable"
	codeDatabaseUnavailable = "database_unavailable"
	codeSearchUnavailable   = "search_unavailable"
	codeInvalidQuery        = "invalid_query"
	codeInternal            = "internal"
)

// apiError is an error meant for the client: it carries the HTTP status,
// a stable code and a message that is safe to show. Any other error
// reaching writeError is logged in full and answered "internal error".
type apiError struct {
	Status  int
	Code    string
	Message string
	// Header is added to the response (Retry-After, WWW-Authenticate).
	Header http.Header
	// cause is logged, never shown.
	cause error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func (e *apiError) Unwrap() error { return e.cause }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// withCause attaches an internal cause for the log.
func (e *apiError) withCause(err error) *apiError { e.cause = err; return e }

func (e *apiError) withHeader(k, v string) *apiError {
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Set(k, v)
	return e
}

// unavailable is a 503 with Retry-After.
func unavailable(code, msg string, cause error) *apiError {
	return errorf(http.StatusServiceUnavailable, code, "%s", msg).withCause(cause).withHeader("Retry-After", "5")
}

var errNotFound = errorf(http.StatusNotFound, codeNotFound, "video not found")

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers err. An *apiError goes out as is (a 5xx one with a
// cause is logged); anything else is logged in full and becomes a 500
// "internal error".
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "route", r.Pattern, "err", err)
		ae = errorf(http.StatusInternalServerError, codeInternal, "internal error")
	} else if ae.Status >= 500 && ae.cause != nil {
		log.WarnContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern,
			"status", ae.Status, "code", ae.Code, "err", ae.cause)
	}
	for k, vs := range ae.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	writeJSON(w, ae.Status, errorBody{Error: errorDetail{Code: ae.Code, Message: ae.Message}})
}

// writeJSON writes v as the JSON response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
