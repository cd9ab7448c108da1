package projection

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/dev/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// testLogger logs to tb.Logf until the test ends (later records, from
// goroutines still winding down, are dropped). hook, when not nil, sees
// every record's message first.
func testLogger(tb testing.TB, hook func(msg string)) *slog.Logger {
	tb.Helper()
	w := &testWriter{tb: tb, hook: hook}
	tb.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	tb   testing.TB
	hook func(string)
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	if w.hook != nil {
		w.hook(line)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(line)
	}
	return len(p), nil
}

// MustPool connects a pool to url; it is closed at cleanup.
func MustPool(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		tb.Fatalf("connect %s: %v", url, err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// MustStore opens a Store on a new pool to url, with a test logger and opts.
func MustStore(tb testing.TB, url string, opts ...StoreOption) *Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, MustPool(tb, url), append([]StoreOption{WithLogger(testLogger(tb, nil))}, opts...)...)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	return s
}

// MustNewDatabase returns the URL of a fresh database on the shared server.
func MustNewDatabase(tb testing.TB) string {
	tb.Helper()
	return harness.MustDatabase(tb, harness.SharedPostgres(tb))
}

// mustGet returns owner's view of id.
func mustGet(tb testing.TB, s *Store, owner, id string) State {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.Get(ctx, owner, id)
	if err != nil {
		tb.Fatalf("get %s as %s: %v", id, owner, err)
	}
	return st
}

// mustApply applies rec and fails on error.
func mustApply(tb testing.TB, s *Store, rec Record) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Apply(ctx, rec); err != nil {
		tb.Fatalf("apply %s@%d: %v", rec.Topic, rec.Offset, err)
	}
}

// eventually polls cond every 50ms until it holds or timeout passes.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
