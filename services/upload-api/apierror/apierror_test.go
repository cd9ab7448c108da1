package apierror

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func answer(t *testing.T, err error) (*httptest.ResponseRecorder, Body) {
	t.Helper()
	w := httptest.NewRecorder()
	Write(w, httptest.NewRequest(http.MethodGet, "/v1/videos", nil), slog.New(slog.DiscardHandler), err)
	var b Body
	if jerr := json.Unmarshal(w.Body.Bytes(), &b); jerr != nil {
		t.Fatalf("body %q: %v", w.Body.String(), jerr)
	}
	return w, b
}

func TestWriteAPIError(t *testing.T) {
	cause := errors.New("dial tcp: refused")
	w, b := answer(t, Unavailable(CodeBrokerUnavailable, "try later", cause))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" {
		t.Fatalf("status %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if b.Error.Code != CodeBrokerUnavailable || b.Error.Message != "try later" {
		t.Fatalf("body = %+v (the cause must not be shown)", b)
	}
	if w.Header().Get("Content-Type") != "application/json; charset=utf-8" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("headers = %v", w.Header())
	}
}

func TestWriteOtherErrorIsInternal(t *testing.T) {
	w, b := answer(t, errors.New("secret detail"))
	if w.Code != http.StatusInternalServerError || b.Error.Code != CodeInternal || b.Error.Message != "internal error" {
		t.Fatalf("status %d, body %+v", w.Code, b)
	}
}

func TestErrorUnwrapsToItsCause(t *testing.T) {
	cause := errors.New("cause")
	err := Errorf(http.StatusBadRequest, CodeBadRequest, "bad %s", "input").WithCause(cause)
	if !errors.Is(err, cause) || err.Cause() != cause || err.Message != "bad input" {
		t.Fatalf("err = %v", err)
	}
}
