package procgroup

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSh starts sh -c script with its output in a log file, stopped when
// the test ends.
func startSh(t *testing.T, script string) *Process {
	t.Helper()
	p, err := Start(context.Background(), Spec{Name: "sh", Path: "/bin/sh", Args: []string{"-c", script},
		LogPath: filepath.Join(t.TempDir(), "logs", "sh.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

// waitLog waits until the process's log holds want.
func waitLog(t *testing.T, p *Process, want string) {
	t.Helper()
	err := p.WaitReady(context.Background(), 10*time.Second, func(context.Context) error {
		if !strings.Contains(p.LogTail(4<<10), want) {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("log never got %q: %v (log: %q)", want, err, p.LogTail(4<<10))
	}
}

func TestStopGraceful(t *testing.T) {
	p := startSh(t, `trap 'echo got TERM; exit 0' TERM; echo started; while :; do sleep 0.05; done`)
	waitLog(t, p, "started")
	if err := p.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatalf("Stop = %v, want nil", err)
	}
	if done, err := p.Exited(); !done || err != nil {
		t.Fatalf("Exited = %v, %v; want true, nil (status 0)", done, err)
	}
	if !strings.Contains(p.LogTail(1<<10), "got TERM") {
		t.Errorf("the process did not get SIGTERM: %q", p.LogTail(1<<10))
	}
	if err := p.Stop(syscall.SIGTERM, time.Second); err != nil {
		t.Errorf("Stop of an exited process = %v, want nil", err)
	}
}

func TestStopKillsTheGroupAfterGrace(t *testing.T) {
	// The shell ignores SIGTERM and leaves a grandchild that does too.
	p := startSh(t, `trap "" TERM; sh -c 'trap "" TERM; sleep 300' & echo "grandchild $!"; while :; do sleep 0.05; done`)
	waitLog(t, p, "grandchild ")
	var grandchild int
	for _, l := range strings.Split(p.LogTail(1<<10), "\n") {
		if n, ok := strings.CutPrefix(l, "grandchild "); ok {
			grandchild, _ = strconv.Atoi(n)
		}
	}
	if grandchild == 0 || !alive(grandchild) {
		t.Fatalf("no running grandchild (log %q)", p.LogTail(1<<10))
	}
	start := time.Now()
	err := p.Stop(syscall.SIGTERM, 200*time.Millisecond)
	if !errors.Is(err, ErrKilled) || !strings.Contains(err.Error(), "sh did not stop within 200ms of SIGTERM: killed") {
		t.Fatalf("Stop = %v, want the killed error", err)
	}
	if d := time.Since(start); d > WaitDelay+5*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if !Signaled(p.Wait()) {
		t.Errorf("Wait = %v, want a signal death", p.Wait())
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(grandchild) {
		if time.Now().After(deadline) {
			syscall.Kill(grandchild, syscall.SIGKILL)
			t.Fatalf("grandchild %d survived the group kill", grandchild)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestContextEndKillsTheProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, Spec{Path: "/bin/sh", Args: []string{"-c", "sleep 300"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "sh" {
		t.Errorf("Name = %q, want the binary's base name", p.Name)
	}
	cancel()
	select {
	case <-p.Done():
	case <-time.After(WaitDelay + 10*time.Second):
		t.Fatal("the process outlived its context")
	}
	if !Signaled(p.Wait()) {
		t.Errorf("Wait = %v, want a signal death", p.Wait())
	}
}

func TestWaitReady(t *testing.T) {
	t.Run("exit before ready", func(t *testing.T) {
		p := startSh(t, `echo "bad flag" >&2; exit 2`)
		err := p.WaitReady(context.Background(), 10*time.Second, func(context.Context) error { return errors.New("never") })
		if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "sh exited before it was ready (exit status 2)") {
			t.Fatalf("WaitReady = %v, want the exit", err)
		}
		if tail := p.LogTail(1 << 10); tail != "bad flag" {
			t.Errorf("LogTail = %q", tail)
		}
	})
	t.Run("not ready in time", func(t *testing.T) {
		p := startSh(t, `sleep 300`)
		err := p.WaitReady(context.Background(), 200*time.Millisecond, func(context.Context) error { return errors.New("connection refused") })
		if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("WaitReady = %v, want not ready with the last check", err)
		}
		if done, _ := p.Exited(); done {
			t.Error("WaitReady stopped the process")
		}
	})
	t.Run("context ends", func(t *testing.T) {
		p := startSh(t, `sleep 300`)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := p.WaitReady(ctx, time.Minute, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitReady = %v, want the context's error", err)
		}
	})
}

func TestLogTailIsThisStartsOutput(t *testing.T) {
	log := filepath.Join(t.TempDir(), "x.log")
	if err := os.WriteFile(log, []byte("an earlier run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Start(context.Background(), Spec{Path: "/bin/sh", Args: []string{"-c", "echo this run"}, LogPath: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := p.LogTail(1 << 10); got != "this run" {
		t.Errorf("LogTail = %q, want only this start's output", got)
	}
	if got := LogTail(log, 1<<10); got != "an earlier run\nthis run" {
		t.Errorf("LogTail(path) = %q, want the whole file", got)
	}
	if got := LogTail(log, 4); got != "run" {
		t.Errorf("LogTail(path, 4) = %q, want the last bytes", got)
	}
	p, err = Start(context.Background(), Spec{Path: "/bin/sh", Args: []string{"-c", "echo fresh"}, LogPath: log, TruncateLog: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Wait()
	if got := LogTail(log, 1<<10); got != "fresh" {
		t.Errorf("after TruncateLog the file holds %q", got)
	}
}

func TestStartWithWritersAndEnv(t *testing.T) {
	t.Setenv("PROCGROUP_TEST_SECRET", "s3cret")
	t.Setenv("PROCGROUP_KEEP", "kept")
	out := &Tail{}
	p, err := Start(context.Background(), Spec{Path: "/bin/sh", Args: []string{"-c", `echo "[$PROCGROUP_TEST_SECRET][$PROCGROUP_KEEP]"; pwd >&2`},
		Env: EnvWithout("PROCGROUP_TEST_"), Dir: "/", Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "[][kept]\n/" {
		t.Errorf("output %q, want the filtered environment and the working directory", got)
	}
}

func TestStartMissingBinary(t *testing.T) {
	_, err := Start(context.Background(), Spec{Name: "ghost", Path: filepath.Join(t.TempDir(), "no-such-binary")})
	if err == nil || !strings.Contains(err.Error(), "start ghost") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start = %v, want a start error naming ghost", err)
	}
}

func TestSignalReachesOnlyTheProcess(t *testing.T) {
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p, err := Start(context.Background(), Spec{Path: "/bin/sh", Args: []string{"-c", `sleep 300 & echo $!; wait`}, Stdout: w})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	grandchild, _ := strconv.Atoi(strings.TrimSpace(line))
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !Signaled(p.Wait()) {
		t.Fatalf("Wait = %v", p.Wait())
	}
	if !alive(grandchild) {
		t.Fatal("Signal reached the grandchild")
	}
	if err := signalGroup(p.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

func TestDescribeExit(t *testing.T) {
	run := func(script string) error { return Command(context.Background(), "sh", "-c", script).Run() }
	tests := map[string]struct {
		err  error
		want string
	}{
		"status":     {run("exit 7"), "exited (status 7)"},
		"signal":     {run("kill -9 $$"), "exited (signal: killed)"},
		"clean exit": {nil, "exited (status 0)"},
		"other":      {errors.New("pipe closed"), "exited (pipe closed)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := DescribeExit(tc.err); got != tc.want {
				t.Errorf("DescribeExit(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
