// Package apierror is the error answer of the upload API: an [Error]
// carries the HTTP status, a stable code and a message that is safe to
// show, and [Write] sends it as {"error": {"code": ..., "message": ...}}.
// The HTTP handlers (package server) and the tus adapter (package
// tusupload) share it, so both answer alike.
package apierror

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Error codes of the API, in {"error": {"code": ..., "message": ...}}. The
// HTTP package defines a few more of its own (rate limits).
const (
	CodeBadRequest          = "bad_request"
	CodeMalformedMultipart  = "malformed_multipart"
	CodeMissingFile         = "missing_file"
	CodeEmptyFile           = "empty_file"
	CodeInvalidField        = "invalid_field"
	CodeUnknownField        = "unknown_field"
	CodeFieldTooLarge       = "field_too_large"
	CodeFileTooLarge        = "file_too_large"
	CodeBodyTooLarge        = "body_too_large"
	CodeUnsupportedMedia    = "unsupported_media_type"
	CodeUnsupportedContent  = "unsupported_content_type"
	CodeUnauthorized        = "unauthorized"
	CodeNotFound            = "not_found"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodeConflict            = "conflict"
	CodeQuotaExceeded       = "quota_exceeded"
	CodeBrokerUnavailable   = "broker_unavailable"
	CodeStorageUnavailable  = "storage_unavailable"
	CodeDatabaseUnavailable = "database_unavailable"
	CodeSearchUnavailable   = "search_unavailable"
	CodeInvalidQuery        = "invalid_query"
	// CodeInvalidCaptions: an uploaded caption file is not valid WebVTT or SRT (422).
	CodeInvalidCaptions = "invalid_captions"
	CodeInternal        = "internal"
)

// Error is an error meant for the client: it carries the HTTP status, a
// stable code and a message that is safe to show. Any other error
// reaching Write is logged in full and answered "internal error".
type Error struct {
	Status  int
	Code    string
	Message string
	// Header is added to the response (Retry-After, WWW-Authenticate).
	Header http.Header
	// cause is logged, never shown.
	cause error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.cause }

// Cause is the internal error behind e, for the log (nil if none).
func (e *Error) Cause() error { return e.cause }

// Errorf returns an Error with status, code and a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithCause attaches an internal cause for the log and returns e.
func (e *Error) WithCause(err error) *Error { e.cause = err; return e }

// WithHeader sets a response header and returns e.
func (e *Error) WithHeader(k, v string) *Error {
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Set(k, v)
	return e
}

// Unavailable is a 503 with Retry-After: 5.
func Unavailable(code, msg string, cause error) *Error {
	return Errorf(http.StatusServiceUnavailable, code, "%s", msg).WithCause(cause).WithHeader("Retry-After", "5")
}

// Internal is the answer to an error that is not an *Error: 500
// "internal error".
func Internal() *Error {
	return Errorf(http.StatusInternalServerError, CodeInternal, "internal error")
}

// Body is the JSON body of an error answer.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the "error" member of Body.
type Detail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Write answers err. An *Error goes out as is (a 5xx one with a cause is
// logged); anything else is logged in full and becomes a 500 "internal
// error".
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "route", r.Pattern, "err", err)
		ae = Internal()
	} else if ae.Status >= 500 && ae.cause != nil {
		log.WarnContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern,
			"status", ae.Status, "code", ae.Code, "err", ae.cause)
	}
	for k, vs := range ae.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	WriteJSON(w, ae.Status, Body{Error: Detail{Code: ae.Code, Message: ae.Message}})
}

// WriteJSON writes v as the JSON response body with status, uncached and
// with nosniff.
func WriteJSON(w http.ResponseWriter, status int, v any) {
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
