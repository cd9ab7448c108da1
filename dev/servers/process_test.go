package servers

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// shSpec runs sh -c script as a server with a log file.
func shSpec(t *testing.T, script string) procgroup.Spec {
	t.Helper()
	return procgroup.Spec{
		Name:    "sh",
		Path:    mustSh(t),
		Args:    []string{"-c", script},
		Dir:     t.TempDir(),
		LogPath: filepath.Join(t.TempDir(), "sh.log"),
	}
}

func TestStartServerReportsEarlyExit(t *testing.T) {
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
			p, err := startServer(context.Background(), shSpec(t, tc.script), 10*time.Second, func(context.Context) error { return errors.New("never ready") })
			if err == nil {
				_ = p.Kill()
				t.Fatal("startServer = nil error, want one")
			}
			var se *StartError
			if !errors.As(err, &se) || se.Server != "sh" || !errors.Is(err, procgroup.ErrExited) {
				t.Fatalf("startServer = %#v, want a *StartError of an exit", err)
			}
			if got := errors.Is(err, ErrAddrInUse); got != tc.addrInUse {
				t.Errorf("errors.Is(%v, ErrAddrInUse) = %v, want %v", err, got, tc.addrInUse)
			}
			if !strings.Contains(err.Error(), tc.wantInTail) || !strings.Contains(se.LogTail, tc.wantInTail) {
				t.Errorf("error %q (tail %q) does not carry the log line %q", err, se.LogTail, tc.wantInTail)
			}
		})
	}
}

func TestStartServerKillsOneNeverReady(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	spec := shSpec(t, `echo $$ > `+pidFile+`; echo "still starting"; exec sleep 300`)
	start := time.Now()
	_, err := startServer(context.Background(), spec, 300*time.Millisecond, func(context.Context) error { return errors.New("never ready") })
	var se *StartError
	if !errors.As(err, &se) || !errors.Is(err, procgroup.ErrNotReady) || se.LogTail != "still starting" {
		t.Fatalf("startServer = %v, want a not-ready *StartError with the log", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the server that was never ready still runs (kill -0: %v)", err)
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
