package procgroup

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// Field 3 is the state; the command name (field 2) is in parentheses.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

func TestCancelKillsTheWholeGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The shell starts a grandchild that would outlive a plain kill of the shell.
	cmd := Command(ctx, "sh", "-c", "sleep 300 & echo $!; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read grandchild pid: %v", err)
	}
	grandchild, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", line, err)
	}
	if !alive(grandchild) {
		t.Fatalf("grandchild %d not running before cancel", grandchild)
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(WaitDelay + 10*time.Second):
		t.Fatal("Wait did not return after cancel")
	}
	if !Signaled(err) || Exited(err) {
		t.Errorf("Wait error = %v, want a signal death", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(grandchild) {
		if time.Now().After(deadline) {
			syscall.Kill(grandchild, syscall.SIGKILL)
			t.Fatalf("grandchild %d survived the cancel", grandchild)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExitedAndSignaled(t *testing.T) {
	err := Command(context.Background(), "sh", "-c", "exit 3").Run()
	if !Exited(err) || Signaled(err) {
		t.Errorf("exit 3: Exited=%v Signaled=%v (%v)", Exited(err), Signaled(err), err)
	}
	err = Command(context.Background(), "sh", "-c", "kill -9 $$").Run()
	if Exited(err) || !Signaled(err) {
		t.Errorf("kill -9: Exited=%v Signaled=%v (%v)", Exited(err), Signaled(err), err)
	}
	for _, err := range []error{nil, errors.New("x"), exec.ErrNotFound} {
		if Exited(err) || Signaled(err) {
			t.Errorf("%v: classified as an exit status", err)
		}
	}
}

func TestTail(t *testing.T) {
	tests := map[string]struct {
		max       int
		writes    []string
		want      string
		wantLines string
	}{
		"short":          {max: 100, writes: []string{"a\n", "b\n"}, want: "a\nb", wantLines: "a; b"},
		"keeps the end":  {max: 9, writes: []string{"line one\n", "line two\n"}, want: "…line two", wantLines: "line two"},
		"one big write":  {max: 4, writes: []string{"abcdefgh"}, want: "…efgh", wantLines: "efgh"},
		"blank lines":    {max: 100, writes: []string{"\n\nx\n\n y \n"}, want: "x\n\n y", wantLines: "x; y"},
		"last n lines":   {max: 100, writes: []string{"1\n2\n3\n4\n5\n6\n"}, want: "1\n2\n3\n4\n5\n6", wantLines: "3; 4; 5; 6"},
		"default max 8K": {writes: []string{strings.Repeat("x", 9000)}, want: "…" + strings.Repeat("x", 8192), wantLines: strings.Repeat("x", 8192)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tl := &Tail{Max: tc.max}
			for _, w := range tc.writes {
				if n, err := tl.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := tl.String(); got != tc.want {
				t.Errorf("String = %q, want %q", got, tc.want)
			}
			if got := tl.LastLines(4); got != tc.wantLines {
				t.Errorf("LastLines = %q, want %q", got, tc.wantLines)
			}
		})
	}
}
