package harness

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// fakeTB records Fatalf and ends the calling goroutine as testing.T does.
// Methods it does not override panic (nil embedded TB).
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	fatals []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

// runFake runs fn with f in its own goroutine (Fatalf ends it) and waits.
func runFake(f *fakeTB, fn func(tb testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
}

func TestRandomName(t *testing.T) {
	re := regexp.MustCompile(`^orders-[0-9a-f]{16}$`)
	a, b := RandomName("orders"), RandomName("orders")
	if !re.MatchString(a) || !re.MatchString(b) {
		t.Fatalf("RandomName: %q, %q do not match %s", a, b, re)
	}
	if a == b {
		t.Fatalf("RandomName returned %q twice", a)
	}
}

func TestSharedFailedStartFailsEveryCaller(t *testing.T) {
	var s shared[int]
	starts := 0
	start := func() (int, error) {
		starts++
		return 0, errors.New("boom")
	}
	f := &fakeTB{}
	for range 2 {
		runFake(f, func(tb testing.TB) { s.get(tb, "thing", start) })
	}
	if starts != 1 {
		t.Errorf("start ran %d times, want 1", starts)
	}
	if len(f.fatals) != 2 {
		t.Fatalf("got %d fatal errors, want 2 (one per caller): %q", len(f.fatals), f.fatals)
	}
	for _, msg := range f.fatals {
		if !strings.Contains(msg, "shared thing") || !strings.Contains(msg, "boom") {
			t.Errorf("fatal %q does not name the server and the cause", msg)
		}
	}
}

func TestSharedStartsOnce(t *testing.T) {
	var s shared[int]
	starts := 0
	start := func() (int, error) { starts++; return 42, nil }
	for range 3 {
		if got := s.get(t, "thing", start); got != 42 {
			t.Fatalf("get = %d, want 42", got)
		}
	}
	if starts != 1 {
		t.Errorf("start ran %d times, want 1", starts)
	}
}

func TestRunExitHooksLastFirstAndJoinsErrors(t *testing.T) {
	exitMu.Lock()
	saved := exitHooks
	exitHooks = nil
	exitMu.Unlock()
	t.Cleanup(func() {
		exitMu.Lock()
		exitHooks = append(saved, exitHooks...)
		exitMu.Unlock()
	})

	var order []string
	errA, errB := errors.New("a failed"), errors.New("b failed")
	onExit(func() error { order = append(order, "a"); return errA })
	onExit(func() error { order = append(order, "b"); return nil })
	onExit(func() error { order = append(order, "c"); return errB })

	err := runExitHooks()
	if got := strings.Join(order, ""); got != "cba" {
		t.Errorf("hooks ran in order %q, want %q", got, "cba")
	}
	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Errorf("runExitHooks = %v, want both errors", err)
	}
	if err := runExitHooks(); err != nil {
		t.Errorf("second runExitHooks = %v, want nil (hooks run once)", err)
	}
}
