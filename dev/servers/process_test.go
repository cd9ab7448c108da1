package servers

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFreePortIsBindable(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	l.Close()
}

func shProcess(t *testing.T, script string) *process {
	t.Helper()
	p, err := startProcess(procSpec{
		name:     "sh",
		path:     mustSh(t),
		args:     []string{"-c", script},
		env:      os.Environ(),
		dir:      t.TempDir(),
		logPath:  filepath.Join(t.TempDir(), "sh.log"),
		deathSig: syscall.SIGKILL,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.stop(syscall.SIGKILL, time.Second) })
	return p
}

func TestProcessStopKillsAfterGrace(t *testing.T) {
	// The script ignores SIGTERM; stop must kill it and say so.
	p := shProcess(t, `trap "" TERM; echo started; while :; do sleep 1; done`)
	if err := p.waitReady(context.Background(), 10*time.Second, func(context.Context) error {
		if !strings.Contains(p.logTail(), "started") {
			return errors.New("not started")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err := p.stop(syscall.SIGTERM, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("stop = %v, want a killed error", err)
	}
	if !p.exited() {
		t.Fatal("process still running after stop")
	}
}

func TestProcessStopGraceful(t *testing.T) {
	p := shProcess(t, `sleep 30`)
	if err := p.stop(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatalf("stop = %v, want nil", err)
	}
}

func TestWaitReadyReportsEarlyExit(t *testing.T) {
	tests := map[string]struct {
		script     string
		addrInUse  bool
		wantInTail string
	}{
		"address in use": {`echo "listen tcp 127.0.0.1:9000: bind: Address already in use" >&2; exit 1`, true, "Address already in use"},
		"other failure":  {`echo "bad flag" >&2; exit 2`, false, "bad flag"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := shProcess(t, tc.script)
			err := p.waitReady(context.Background(), 10*time.Second, func(context.Context) error { return errors.New("never ready") })
			if err == nil {
				t.Fatal("waitReady = nil, want an error")
			}
			if got := errors.Is(err, ErrAddrInUse); got != tc.addrInUse {
				t.Errorf("errors.Is(%v, ErrAddrInUse) = %v, want %v", err, got, tc.addrInUse)
			}
			if !strings.Contains(err.Error(), tc.wantInTail) {
				t.Errorf("error %q does not carry the log line %q", err, tc.wantInTail)
			}
		})
	}
}

func TestStartOnPortRetriesTakenPort(t *testing.T) {
	calls := 0
	port, err := startOnPort(context.Background(), 0, func(port int) error {
		calls++
		if calls == 1 {
			return ErrAddrInUse
		}
		return nil
	})
	if err != nil || port == 0 || calls != 2 {
		t.Fatalf("startOnPort = %d, %v after %d calls; want a port, nil, 2 calls", port, err, calls)
	}
}

func TestStartOnPortKeepsGivenPort(t *testing.T) {
	var tried []int
	port, err := startOnPort(context.Background(), 4242, func(port int) error {
		tried = append(tried, port)
		if len(tried) < 3 {
			return ErrAddrInUse
		}
		return nil
	})
	if err != nil || port != 4242 {
		t.Fatalf("startOnPort = %d, %v; want 4242, nil", port, err)
	}
	for _, p := range tried {
		if p != 4242 {
			t.Fatalf("tried ports %v, want only 4242", tried)
		}
	}
}

// mustSh returns the path of sh.
func mustSh(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("sh not found in PATH: %v", err)
	}
	return path
}
