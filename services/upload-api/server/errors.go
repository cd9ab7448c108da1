package server

import (
	"log/slog"
	"net/http"

	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
)

// Error codes of the API, in {"error": {"code": ..., "message": ...}}
// (package apierror; limits.go and authlimit.go add the rate-limit ones).
const (
	codeBadRequest          = apierror.CodeBadRequest
	codeMalformedMultipart  = apierror.CodeMalformedMultipart
	codeMissingFile         = apierror.CodeMissingFile
	codeEmptyFile           = apierror.CodeEmptyFile
	codeInvalidField        = apierror.CodeInvalidField
	codeUnknownField        = apierror.CodeUnknownField
	codeFieldTooLarge       = apierror.CodeFieldTooLarge
	codeFileTooLarge        = apierror.CodeFileTooLarge
	codeBodyTooLarge        = apierror.CodeBodyTooLarge
	codeUnsupportedMedia    = apierror.CodeUnsupportedMedia
	codeUnsupportedContent  = apierror.CodeUnsupportedContent
	codeUnauthorized        = apierror.CodeUnauthorized
	codeNotFound            = apierror.CodeNotFound
	codeMethodNotAllowed    = apierror.CodeMethodNotAllowed
	codeConflict            = apierror.CodeConflict
	codeQuotaExceeded       = apierror.CodeQuotaExceeded
	codeBrokerUnavailable   = apierror.CodeBrokerUnavailable
	codeStorageUnavailable  = apierror.CodeStorageUnavailable
	codeDatabaseUnavailable = apierror.CodeDatabaseUnavailable
	codeSearchUnavailable   = apierror.CodeSearchUnavailable
	codeInvalidQuery        = apierror.CodeInvalidQuery
	codeInvalidCaptions     = apierror.CodeInvalidCaptions
	codeInternal            = apierror.CodeInternal
)

// apiError is an error meant for the client (see apierror.Error).
type apiError = apierror.Error

// errorBody is the JSON body of an error answer.
type errorBody = apierror.Body

func errorf(status int, code, format string, args ...any) *apiError {
	return apierror.Errorf(status, code, format, args...)
}

// unavailable is a 503 with Retry-After.
func unavailable(code, msg string, cause error) *apiError {
	return apierror.Unavailable(code, msg, cause)
}

var errNotFound = errorf(http.StatusNotFound, codeNotFound, "video not found")

// writeError answers err (see apierror.Write).
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	apierror.Write(w, r, log, err)
}

// writeJSON writes v as the JSON response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) { apierror.WriteJSON(w, status, v) }
