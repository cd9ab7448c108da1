package thumbnail

import (
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

func TestTailBuffer(t *testing.T) {
	tests := map[string]struct {
		writes []string
		want   string
	}{
		"short":             {[]string{"ab", "cd"}, "abcd"},
		"exactly full":      {[]string{"abcdefgh"}, "…abcdefgh"},
		"keeps the end":     {[]string{"abcdef", "ghij"}, "…cdefghij"},
		"one huge write":    {[]string{"0123456789abcdef"}, "…89abcdef"},
		"invalid utf8 kept": {[]string{"a\xffb"}, "a?b"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := &tailBuffer{max: 8}
			for _, w := range tc.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := b.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRunToolErrors(t *testing.T) {
	ctx := context.Background()
	err := runTool(ctx, "sh", []string{"-c", "echo boom >&2; exit 3"}, nil)
	var te *ToolError
	if !errors.As(err, &te) || te.Signaled || !isExitError(err) || !strings.Contains(te.Stderr, "boom") {
		t.Errorf("exit 3: err = %#v", err)
	}
	err = runTool(ctx, "sh", []string{"-c", "kill -KILL $$"}, nil)
	if !errors.As(err, &te) || !te.Signaled {
		t.Errorf("killed: err = %#v, want Signaled", err)
	}
	err = runTool(ctx, filepath.Join(t.TempDir(), "no-such-tool"), nil, nil)
	if err == nil || isExitError(err) {
		t.Errorf("missing binary: err = %v, want a start error", err)
	}
}

// TestRunToolKillsProcessGroup: cancelling the context kills the tool and
// every process it started, and runTool returns the context's error.
func TestRunToolKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runTool(ctx, "sh", []string{"-c", "sleep 300 & echo $! > " + pidFile + "; wait"}, nil)
	}()
	var child int
	for deadline := time.Now().Add(20 * time.Second); child == 0; {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("the tool did not start its child")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runTool did not return after cancel")
	}
	// The grandchild was in the group: it is gone (or a zombie being reaped).
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := syscall.Kill(child, 0)
		if errors.Is(err, syscall.ESRCH) || isZombie(child) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d still running after cancel", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isZombie reports whether pid has exited but is not reaped yet.
func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// Format: pid (comm) state ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
