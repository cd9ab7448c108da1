package server

import (
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// codeAuthRateLimited answers a client past its failed authentications.
const codeAuthRateLimited = "auth_rate_limited"

// Failed authentication is limited per client address (the connection's
// remote address; X-Forwarded-For is not trusted): each address has
// AuthFailBurst failures, refilled one per AuthFailRefill. Past that every
// request from the address but GET /healthz answers 429 with Retry-After
// until a failure is refilled, so guessing tokens costs AuthFailRefill per
// guess. Behind a proxy all its clients share the proxy's address.
const (
	AuthFailBurst  = 10
	AuthFailRefill = 6 * time.Second
	// authFailMaxClients bounds the table; a full table forgets the
	// addresses whose failures are all refilled.
	authFailMaxClients = 100_000
)

// failLimiter is a token bucket of failures per client address.
type failLimiter struct {
	mu     sync.Mutex
	burst  float64
	refill time.Duration
	now    func() time.Time
	m      map[string]*failBucket
}

type failBucket struct {
	left float64 // failures still allowed
	at   time.Time
}

func newFailLimiter(burst int, refill time.Duration) *failLimiter {
	return &failLimiter{burst: float64(burst), refill: refill, now: time.Now, m: map[string]*failBucket{}}
}

// level refills b up to now.
func (l *failLimiter) level(b *failBucket, now time.Time) {
	b.left = math.Min(l.burst, b.left+float64(now.Sub(b.at))/float64(l.refill))
	b.at = now
}

// blocked reports whether client has no failure left, and for how long.
func (l *failLimiter) blocked(client string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[client]
	if !ok {
		return 0, false
	}
	now := l.now()
	l.level(b, now)
	if b.left >= 1 {
		return 0, false
	}
	return time.Duration((1 - b.left) * float64(l.refill)), true
}

// fail records a failed authentication of client.
func (l *failLimiter) fail(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.m[client]
	if !ok {
		if len(l.m) >= authFailMaxClients {
			for c, o := range l.m {
				if l.level(o, now); o.left >= l.burst {
					delete(l.m, c)
				}
			}
		}
		b = &failBucket{left: l.burst, at: now}
		l.m[client] = b
	}
	l.level(b, now)
	b.left = math.Max(b.left-1, 0)
}

// clientAddr is the host of the request's remote address.
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// limitAuthFailures answers 429 (with Retry-After) to clients that used up
// their failed authentications, and counts and logs every 401 (client
// address, method, route; never the token or the query).
func limitAuthFailures(l *failLimiter, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := clientAddr(r)
		if r.URL.Path != "/healthz" {
			if wait, ok := l.blocked(client); ok {
				secs := int(math.Ceil(wait.Seconds()))
				log.WarnContext(r.Context(), "authentication rate limited", "client", client, "method", r.Method, "path", r.URL.Path, "retry_after", secs)
				writeError(w, r, log, errorf(http.StatusTooManyRequests, codeAuthRateLimited, "too many failed authentications from this address; retry later").
					WithHeader("Retry-After", strconv.Itoa(max(secs, 1))))
				return
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == http.StatusUnauthorized {
			l.fail(client)
			log.WarnContext(r.Context(), "authentication failed", "client", client, "method", r.Method, "path", r.URL.Path,
				"authorization_header", r.Header.Get("Authorization") != "")
		}
	})
}
