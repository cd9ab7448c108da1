package procgroup_test

import (
	"bufio"
	"context"
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

// parentMain runs in the re-executed test binary: it starts a shell with
// DeathSignal SIGTERM that writes to the file mark when it gets SIGTERM,
// prints the shell's pid and waits to be killed.
func parentMain(mark string) {
	p, err := procgroup.Start(context.Background(), procgroup.Spec{Path: "/bin/sh", DeathSignal: syscall.SIGTERM,
		Args:    []string{"-c", `trap 'echo got TERM > "$0"; exit 0' TERM; echo ready; while :; do sleep 0.05; done`, mark},
		LogPath: mark + ".log"})
	if err != nil {
		println(err.Error())
		os.Exit(2)
	}
	os.Stdout.WriteString(strconv.Itoa(p.PID()) + "\n")
	time.Sleep(time.Hour)
	os.Exit(0)
}

func TestStartedChildGetsDeathSignal(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(t.TempDir(), "mark")
	parent := exec.Command(exe, "-test.run=^$")
	parent.Env = append(os.Environ(), "PROCGROUP_TEST_PARENT="+mark)
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer parent.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("parent: %v", err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(line))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(procgroup.LogTail(mark+".log", 100), "ready") {
		if time.Now().After(deadline) {
			t.Fatal("child never ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	parent.Process.Kill()
	parent.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for procgroup.Alive(child) {
		if time.Now().After(deadline) {
			syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("child %d outlived its killed parent", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, _ := os.ReadFile(mark); string(b) != "got TERM\n" {
		t.Errorf("child did not get SIGTERM as its death signal (mark %q)", b)
	}
}
