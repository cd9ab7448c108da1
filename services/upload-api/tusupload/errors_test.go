package tusupload

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
)

func TestTusErrorKeepsTheAPIAnswer(t *testing.T) {
	ae := apierror.Errorf(http.StatusTooManyRequests, "too_many_uploads", "slow down").WithHeader("Retry-After", "5")
	he := tusError(ae)
	if he.HTTPResponse.StatusCode != http.StatusTooManyRequests || he.HTTPResponse.Header["Retry-After"] != "5" {
		t.Fatalf("response = %+v", he.HTTPResponse)
	}
	var body apierror.Body
	if err := json.Unmarshal([]byte(he.HTTPResponse.Body), &body); err != nil {
		t.Fatalf("body %q: %v", he.HTTPResponse.Body, err)
	}
	if body.Error.Code != "too_many_uploads" || body.Error.Message != "slow down" {
		t.Fatalf("body = %+v", body)
	}
}

// errAfter returns its data, then err.
type errAfter struct {
	data []byte
	err  error
}

func (e *errAfter) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestAPIErrorReader(t *testing.T) {
	slow := apierror.Errorf(http.StatusRequestTimeout, "upload_too_slow", "too slow")
	_, err := io.ReadAll(apiErrorReader{&errAfter{data: []byte("abc"), err: slow}})
	var he handler.Error
	if !errors.As(err, &he) || he.HTTPResponse.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("err = %v, want the tusd error of the API error", err)
	}
	// Other errors (a client gone) pass as they are.
	gone := errors.New("connection reset")
	if _, err := io.ReadAll(apiErrorReader{&errAfter{err: gone}}); !errors.Is(err, gone) {
		t.Fatalf("err = %v, want %v", err, gone)
	}
}

func TestCapReaderStopsOneBytePastMax(t *testing.T) {
	over := errors.New("over")
	src := strings.NewReader(strings.Repeat("x", 100))
	c := &capReader{r: src, max: 10, err: over}
	got, err := io.ReadAll(c)
	if !errors.Is(err, over) || len(got) != 11 {
		t.Fatalf("read %d bytes, err %v; want 11 and the cap's error", len(got), err)
	}
	if src.Len() != 89 {
		t.Fatalf("source has %d bytes left, want 89 (no read past max+1)", src.Len())
	}
	// A body within the cap reads to its end.
	got, err = io.ReadAll(&capReader{r: bytes.NewReader([]byte("0123456789")), max: 10, err: over})
	if err != nil || len(got) != 10 {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
}

func TestLazyCapAppliesOnceKnown(t *testing.T) {
	limit := int64(-1)
	c := &lazyCap{r: strings.NewReader(strings.Repeat("x", 20)), max: func() int64 { return limit }}
	buf := make([]byte, 8)
	if n, err := c.Read(buf); n != 8 || err != nil {
		t.Fatalf("uncapped read: %d, %v", n, err)
	}
	limit = 12
	_, err := io.ReadAll(c)
	var he handler.Error
	if !errors.As(err, &he) || he.HTTPResponse.StatusCode != http.StatusRequestEntityTooLarge || he.ErrorCode != apierror.CodeQuotaExceeded {
		t.Fatalf("err = %v, want 413 quota_exceeded", err)
	}
}

func TestNewRequiresItsParts(t *testing.T) {
	if _, err := New(Config{}, Hooks{}); err == nil {
		t.Fatal("New without S3, bucket, registry and hooks succeeded")
	}
}
