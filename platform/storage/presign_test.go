package storage_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/harness"
)

// MustFetch GETs rawURL with a plain HTTP client and returns the status
// and body.
func MustFetch(tb testing.TB, rawURL string) (int, string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(testContext(tb), http.MethodGet, rawURL, nil)
	if err != nil {
		tb.Fatalf("request %s: %v", rawURL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read %s: %v", rawURL, err)
	}
	return resp.StatusCode, string(b)
}

func TestPresignGet(t *testing.T) {
	t.Parallel()
	m := harness.SharedMinIO(t)
	bucket := harness.MustBucket(t, m)
	_, port, _ := strings.Cut(m.Endpoint, ":")
	tests := map[string]struct {
		public   string // config.S3.PublicEndpoint
		wantHost string
	}{
		// localhost is the same server under another name: the request only
		// verifies if the URL was signed for the host it is sent to.
		"internal endpoint":             {public: "", wantHost: m.Endpoint},
		"public endpoint host:port":     {public: "localhost:" + port, wantHost: "localhost:" + port},
		"public endpoint with a scheme": {public: "http://localhost:" + port, wantHost: "localhost:" + port},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			cfg := m.S3Config(bucket)
			cfg.PublicEndpoint = tt.public
			s := MustNew(t, cfg)
			key := "videos/" + strings.ReplaceAll(name, " ", "-") + "/poster.jpg"
			const body = "not really a jpeg"
			if _, err := s.Put(ctx, key, strings.NewReader(body), int64(len(body)), "image/jpeg"); err != nil {
				t.Fatalf("Put: %v", err)
			}
			raw, err := s.PresignGet(ctx, key, 0)
			if err != nil {
				t.Fatalf("PresignGet: %v", err)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("presigned URL %q: %v", raw, err)
			}
			if u.Host != tt.wantHost || u.Query().Get("X-Amz-Expires") != "3600" {
				t.Errorf("presigned URL %s: want host %s and the default expiry 3600s", raw, tt.wantHost)
			}
			status, got := MustFetch(t, raw)
			if status != http.StatusOK || got != body {
				t.Fatalf("GET presigned URL: %d %q, want 200 %q", status, got, body)
			}
		})
	}
}

// TestPresignGetMakesNoRequest signs for a public endpoint where nothing
// listens: signing must not need the network.
func TestPresignGetMakesNoRequest(t *testing.T) {
	t.Parallel()
	m := harness.SharedMinIO(t)
	cfg := m.S3Config(harness.MustBucket(t, m))
	cfg.PublicEndpoint = "https://media.invalid"
	cfg.Region = ""
	raw, err := MustNew(t, cfg).PresignGet(testContext(t), "videos/x/poster.jpg", 5*time.Minute)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	if !strings.HasPrefix(raw, "https://media.invalid/") || !strings.Contains(raw, "X-Amz-Expires=300") {
		t.Fatalf("presigned URL %s: want https://media.invalid/... with X-Amz-Expires=300", raw)
	}
}

// TestPresignGetExpires checks correctness, not speed: a URL valid for 1s
// is refused once it has expired.
func TestPresignGetExpires(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := MustStore(t)
	if _, err := s.Put(ctx, "k", strings.NewReader("v"), 1, "text/plain"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	raw, err := s.PresignGet(ctx, "k", time.Second)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	time.Sleep(2500 * time.Millisecond)
	if status, body := MustFetch(t, raw); status != http.StatusForbidden {
		t.Fatalf("GET expired presigned URL: %d %q, want 403", status, body)
	}
}
