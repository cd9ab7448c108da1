package devstack

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/launch"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	childOnce sync.Once
	childBin  string
	childErr  error
)

// mustChildBinary builds testdata/child once per test binary and returns
// its path.
func mustChildBinary(t *testing.T) string {
	t.Helper()
	childOnce.Do(func() {
		childBin = filepath.Join(testBinDir, "child")
		childErr = launch.Build(context.Background(), ".", testBinDir, nil, "./testdata/child")
	})
	if childErr != nil {
		t.Fatalf("build testdata/child: %v", childErr)
	}
	return childBin
}

// supervise runs procs under a Supervisor writing to a buffer until the
// returned stop function is called; stop returns Run's error.
func supervise(t *testing.T, s *Supervisor, procs ...Proc) (*syncBuffer, func() error) {
	t.Helper()
	buf := &syncBuffer{}
	s.Out = NewOutput(buf, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, procs) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Supervisor.Run did not return within 30s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return buf, stop
}

func TestSupervisorRestartsWithBackoffAndPrefixesOutput(t *testing.T) {
	bin := mustChildBinary(t)
	s := &Supervisor{Backoff: Backoff{Initial: 20 * time.Millisecond, Max: 80 * time.Millisecond, Reset: time.Hour}}
	buf, stop := supervise(t, s, Proc{Name: "crasher-1", Path: bin, Args: []string{"-exit-after", "50ms", "-code", "3"}})

	restarts := regexp.MustCompile(`(?m)^\[dev\] crasher-1 exited \(status 3\); restarting in (\S+)$`)
	waitFor(t, 20*time.Second, "four restarts", func() bool { return len(restarts.FindAllString(buf.String(), -1)) >= 4 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	out := buf.String()

	var delays []string
	for _, m := range restarts.FindAllStringSubmatch(out, -1) {
		delays = append(delays, m[1])
	}
	want := []string{"20ms", "40ms", "80ms", "80ms"}
	if got := strings.Join(delays[:4], " "); got != strings.Join(want, " ") {
		t.Errorf("restart delays %v, want %v (doubling, capped)\n%s", delays, want, out)
	}
	if starts := strings.Count(out, "[crasher-1] started pid "); starts < 4 {
		t.Errorf("child started %d times, want at least 4 (first start and restarts)\n%s", starts, out)
	}
	for _, line := range []string{"[crasher-1] a line on stderr\n", "[crasher-1] a partial line\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q (stderr and a final partial line, prefixed)\n%s", line, out)
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(l, "[crasher-1] ") && !strings.HasPrefix(l, "[dev] ") {
			t.Errorf("line %q has no prefix", l)
		}
	}
}

func TestSupervisorStopsGracefullyWithoutRestart(t *testing.T) {
	bin := mustChildBinary(t)
	s := &Supervisor{Backoff: Backoff{Initial: 10 * time.Millisecond}, StopTimeout: 20 * time.Second}
	buf, stop := supervise(t, s,
		Proc{Name: "a-1", Path: bin},
		Proc{Name: "a-2", Path: bin},
	)
	waitFor(t, 20*time.Second, "both children started", func() bool {
		out := buf.String()
		return strings.Contains(out, "[a-1] started") && strings.Contains(out, "[a-2] started")
	})
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	out := buf.String()
	for _, want := range []string{"[a-1] got SIGTERM, stopping\n", "[a-2] got SIGTERM, stopping\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out, "restarting") {
		t.Errorf("a child stopped by the supervisor was restarted\n%s", out)
	}
}

func TestSupervisorKillsChildIgnoringSIGTERM(t *testing.T) {
	bin := mustChildBinary(t)
	s := &Supervisor{StopTimeout: 200 * time.Millisecond}
	buf, stop := supervise(t, s, Proc{Name: "stubborn-1", Path: bin, Args: []string{"-ignore-term"}})
	waitFor(t, 20*time.Second, "child started", func() bool { return strings.Contains(buf.String(), "[stubborn-1] started") })
	err := stop()
	if err == nil || !strings.Contains(err.Error(), "stubborn-1 did not stop within 200ms of SIGTERM: killed") {
		t.Fatalf("Run = %v, want the child reported as killed", err)
	}
	if !strings.Contains(buf.String(), "[dev] stubborn-1 did not stop within 200ms of SIGTERM: killed") {
		t.Errorf("output does not say the child was killed\n%s", buf.String())
	}
}

func TestSupervisorReportsChildThatCannotStart(t *testing.T) {
	s := &Supervisor{Backoff: Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond}}
	missing := filepath.Join(t.TempDir(), "no-such-binary")
	buf, stop := supervise(t, s, Proc{Name: "ghost-1", Path: missing})
	waitFor(t, 20*time.Second, "a restart message", func() bool {
		return strings.Contains(buf.String(), "[dev] ghost-1 could not start (")
	})
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if !strings.Contains(buf.String(), "; restarting in 10ms") {
		t.Errorf("no restart scheduled for a child that could not start\n%s", buf.String())
	}
}

func TestBackoffRestarts(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 8 * time.Second, Reset: 30 * time.Second}
	tests := map[string]struct {
		prev      int
		ran       time.Duration
		wantNext  int
		wantDelay time.Duration
	}{
		"first restart":             {0, time.Second, 1, time.Second},
		"doubles":                   {1, time.Second, 2, 2 * time.Second},
		"doubles again":             {3, time.Second, 4, 8 * time.Second},
		"capped":                    {4, time.Second, 5, 8 * time.Second},
		"long run starts over":      {5, 30 * time.Second, 1, time.Second},
		"just short of reset":       {1, 29 * time.Second, 2, 2 * time.Second},
		"first restart after a run": {0, time.Hour, 1, time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			next := b.nextRestart(tc.prev, tc.ran)
			if d := b.policy().Delay(next); next != tc.wantNext || d != tc.wantDelay {
				t.Errorf("nextRestart(%d, %v) = %d (delay %v), want %d (%v)", tc.prev, tc.ran, next, d, tc.wantNext, tc.wantDelay)
			}
		})
	}
}

func TestBackoffDefaults(t *testing.T) {
	got := Backoff{}.withDefaults()
	want := Backoff{Initial: time.Second, Max: 30 * time.Second, Reset: 30 * time.Second}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
}

func TestDescribeExit(t *testing.T) {
	bin := mustChildBinary(t)
	run := func(args ...string) error { return exec.Command(bin, args...).Run() }
	killed := func() error {
		cmd := exec.Command(bin)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Process.Kill()
		return cmd.Wait()
	}
	tests := map[string]struct {
		err  error
		want string
	}{
		"status":       {run("-exit-after", "1ms", "-code", "7"), "exited (status 7)"},
		"signal":       {killed(), "exited (signal: killed)"},
		"clean exit":   {nil, "exited (status 0)"},
		"cannot start": {&startError{errors.New("no such file")}, "could not start (no such file)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := describeExit(tc.err); got != tc.want {
				t.Errorf("describeExit(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
