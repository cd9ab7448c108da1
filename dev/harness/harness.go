// Package harness starts real servers for vidpipe's integration tests.
//
// Every server listens on 127.0.0.1 only, on a free port, with its state in
// a temporary directory; nothing is mocked.
//
// # Servers
//
//   - Kafka: an in-process franz-go kfake broker speaking the real Kafka wire
//     protocol ([StartKafka], [StartKafkaPersistent]); one broker unless the
//     caller asks for more.
//   - S3: a real MinIO server process ([SharedMinIO], [StartMinIO]).
//   - PostgreSQL: a real server from the Debian packages, initdb'd into a
//     temporary directory ([SharedPostgres], [StartPostgres]).
//
// Shared servers (SharedX) are started lazily, once per test binary, and
// stopped by [Main]; tests share them by creating random buckets, databases,
// topics and groups ([MustBucket], [MustDatabase], [RandomName]). Tests that
// stop, restart or otherwise disturb a server start a private one (StartX),
// which is stopped at the test's cleanup. Never Stop a shared server.
//
// # Missing tools
//
// A missing binary fails the test with an install hint; tests never skip.
//
// # Usage
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		k := harness.StartKafka(t)
//		k.CreatePipelineTopics(t, 3)
//		s3 := harness.SharedMinIO(t)
//		bucket := harness.MustBucket(t, s3)
//		url := harness.MustDatabase(t, harness.SharedPostgres(t))
//		...
//	}
package harness

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// Main runs the package's tests, then stops the shared servers and removes
// their directories, and exits with the tests' status (1 if stopping a
// shared server failed). Call it from TestMain:
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
// [SharedMinIO] and [SharedPostgres] fail the test when Main is not in use,
// since nothing else would stop their processes.
func Main(m *testing.M) {
	mainRunning.Store(true)
	code := m.Run()
	if err := runExitHooks(); err != nil {
		fmt.Fprintf(os.Stderr, "harness: stopping shared servers: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

var (
	// mainRunning is set by Main; shared servers require it.
	mainRunning atomic.Bool

	exitMu    sync.Mutex
	exitHooks []func() error // run by Main in reverse order of registration
)

// onExit registers fn to run when Main returns from m.Run.
func onExit(fn func() error) {
	exitMu.Lock()
	defer exitMu.Unlock()
	exitHooks = append(exitHooks, fn)
}

// runExitHooks runs the hooks registered with onExit, last first, and
// joins their errors.
func runExitHooks() error {
	exitMu.Lock()
	hooks := exitHooks
	exitHooks = nil
	exitMu.Unlock()
	var errs []error
	for i := len(hooks) - 1; i >= 0; i-- {
		if err := hooks[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// shared is a server started at most once per test binary. A failed start
// is remembered and fails every caller, not only the first.
type shared[T any] struct {
	once sync.Once
	v    T
	err  error
}

// get returns the shared server, starting it with start on first use.
func (s *shared[T]) get(tb testing.TB, name string, start func() (T, error)) T {
	tb.Helper()
	if !mainRunning.Load() {
		tb.Fatalf("harness: shared %s needs harness.Main: add `func TestMain(m *testing.M) { harness.Main(m) }` to the package's tests", name)
	}
	s.once.Do(func() { s.v, s.err = start() })
	if s.err != nil {
		tb.Fatalf("harness: shared %s: %v", name, s.err)
	}
	return s.v
}

// RandomName returns prefix + "-" + 16 random lowercase hex digits, e.g.
// "orders-3f9a0c1d2e4b5a69". Use it for topics, groups and buckets so that
// tests sharing a server do not collide. With a lowercase prefix of at most
// 46 characters the result is a valid S3 bucket name.
func RandomName(prefix string) string {
	return prefix + "-" + randomHex(8)
}

// randomHex returns n random bytes as 2n lowercase hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b)
}
