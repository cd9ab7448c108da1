package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFailedAuthIsRateLimitedPerClientAndLogged(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	auth := NewAuth(map[string]string{"good-token-0123456789abcdef012345": "alice"})
	clock := time.Unix(1_800_000_000, 0)
	auth.failures.now = func() time.Time { return clock }
	h := NewServer(Deps{Logger: log, Auth: auth})

	do := func(remote, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v1/videos/6f1c2b9e-3a7d-4c1e-9b2a-0d3e4f5a6b7c", nil)
		req.RemoteAddr = remote + ":40000"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	const attacker, other = "192.0.2.7", "198.51.100.9"
	guess := "guess-secret-token-42"
	for i := 0; i < AuthFailBurst; i++ {
		if rec := do(attacker, guess); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, rec.Code)
		}
	}
	rec := do(attacker, guess)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d, want 429", AuthFailBurst, rec.Code)
	}
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 || ra > int(AuthFailRefill.Seconds()) {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	// Blocked for any token, even a valid one: a guess that happens to be
	// right is not even checked.
	if rec := do(attacker, "good-token-0123456789abcdef012345"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("blocked client with a valid token: %d", rec.Code)
	}
	// Other clients are not affected; /healthz is never limited.
	if rec := do(other, guess); rec.Code != http.StatusUnauthorized {
		t.Fatalf("other client: %d, want 401", rec.Code)
	}
	hz := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	hz.RemoteAddr = attacker + ":1"
	hrec := httptest.NewRecorder()
	h.ServeHTTP(hrec, hz)
	if hrec.Code != http.StatusOK {
		t.Fatalf("/healthz of a blocked client: %d", hrec.Code)
	}
	// One refill later, one more attempt.
	clock = clock.Add(AuthFailRefill)
	if rec := do(attacker, "good-token-0123456789abcdef012345"); rec.Code == http.StatusTooManyRequests || rec.Code == http.StatusUnauthorized {
		t.Fatalf("after a refill with a valid token: %d", rec.Code)
	}

	out := logs.String()
	if strings.Contains(out, guess) || strings.Contains(out, "good-token") {
		t.Fatalf("a token was logged:\n%s", out)
	}
	if n := strings.Count(out, `msg="authentication failed"`); n != AuthFailBurst+1 {
		t.Errorf("%d 'authentication failed' lines, want %d:\n%s", n, AuthFailBurst+1, out)
	}
	if !strings.Contains(out, "client="+attacker) || !strings.Contains(out, `msg="authentication rate limited"`) {
		t.Errorf("log lacks the client address or the rate limit:\n%s", out)
	}
}
