package thumbnail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func init() {
	// The child of TestSandboxUnavailable (before TestMain).
	if os.Getenv("THUMBNAIL_TEST_NO_NAMESPACES") == "1" {
		os.Exit(withoutNamespaces())
	}
}

// The rendition is hostile input: ffmpeg must not reach the network, not
// even a listener on the worker's loopback.
func TestRunToolCannotReachTheNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = runTool(ctx, "ffmpeg", []string{"-nostdin", "-v", "error", "-rw_timeout", "5000000",
		"-i", "http://" + ln.Addr().String() + "/r.mp4", "-frames:v", "1", "-f", "null", "-"}, nil)
	if err == nil {
		t.Fatal("ffmpeg read from a listener that sends nothing")
	}
	time.Sleep(100 * time.Millisecond)
	if n := conns.Load(); n != 0 {
		t.Fatalf("ffmpeg opened %d connection(s) to the worker's loopback (%v)", n, err)
	}
	if !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("error = %v, want network unreachable", err)
	}
}

// No credential of the worker reaches the tools: the "ffprobe" here is a
// script that prints its environment.
func TestRunToolEnvironmentHasNoCredentials(t *testing.T) {
	t.Setenv("VIDPIPE_S3_SECRET_KEY", "s3cr3t")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	script := filepath.Join(t.TempDir(), "ffprobe")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := runTool(context.Background(), script, nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(kv, "VIDPIPE_") || strings.HasPrefix(kv, "AWS_") || strings.Contains(kv, "s3cr3t") {
			t.Errorf("tool environment has %q", kv)
		}
	}
	if !strings.Contains(out.String(), "PATH=") {
		t.Errorf("tool environment has no PATH:\n%s", out.String())
	}
}

func TestSandboxLimitsAreVisibleOnTheTool(t *testing.T) {
	t.Cleanup(func() { sandboxMu.Lock(); sandboxCur = nil; sandboxMu.Unlock() })
	lim := SandboxLimits{AddressSpace: 3 << 30, FileSize: 5 << 20, OpenFiles: 100, CPUTime: 61 * time.Second}
	st, err := StartSandbox(context.Background(), SandboxRequired, lim)
	if err != nil || !st.Active {
		t.Fatalf("StartSandbox(required) = %+v, %v", st, err)
	}
	// The tool reports its own limits (sh is exec'd by the helper, same pid).
	var out strings.Builder
	if err := runTool(context.Background(), "sh", []string{"-c", "cat /proc/$$/limits; readlink /proc/$$/ns/net"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Max cpu time              61                   61                   seconds",
		"Max file size             5242880              5242880              bytes",
		"Max open files            100                  100                  files",
		"Max address space         3221225472           3221225472           bytes",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tool limits lack %q:\n%s", want, out.String())
		}
	}
	own, _ := os.Readlink("/proc/self/ns/net")
	if strings.Contains(out.String(), own) {
		t.Errorf("tool shares the worker's network namespace %s", own)
	}
	// A tool writing past the file size limit is stopped by a signal
	// (a transient failure, not the input's fault).
	dir := t.TempDir()
	err = runTool(context.Background(), "sh", []string{"-c", "head -c 9000000 /dev/zero > " + filepath.Join(dir, "big")}, nil)
	var te *ToolError
	if !errors.As(err, &te) {
		t.Fatalf("write past the limit: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "big")); err != nil || fi.Size() > 5<<20 {
		t.Errorf("file %v %v, want at most 5 MiB", fi, err)
	}
}

// withoutNamespaces forbids user namespaces in its own user namespace,
// drops to uid 1000 (so no network namespace either) and checks that
// required refuses while auto falls back with a reason.
func withoutNamespaces() int {
	if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0"), 0); err != nil {
		fmt.Println("forbid user namespaces:", err)
		return 2
	}
	if err := syscall.Setgid(1000); err != nil {
		fmt.Println("setgid:", err)
		return 2
	}
	if err := syscall.Setuid(1000); err != nil {
		fmt.Println("setuid:", err)
		return 2
	}
	if _, err := StartSandbox(context.Background(), SandboxRequired, DefaultSandboxLimits()); !errors.Is(err, ErrSandboxUnavailable) {
		fmt.Println("required: StartSandbox =", err, "want ErrSandboxUnavailable")
		return 1
	}
	st, err := StartSandbox(context.Background(), SandboxAuto, DefaultSandboxLimits())
	if err != nil || st.Active || st.Reason == "" {
		fmt.Printf("auto: %+v, %v; want inactive with a reason\n", st, err)
		return 1
	}
	var out strings.Builder
	if err := runTool(context.Background(), "sh", []string{"-c", "ulimit -n; env"}, &out); err != nil ||
		!strings.HasPrefix(out.String(), "256\n") || strings.Contains(out.String(), "THUMBNAIL_TEST") {
		fmt.Printf("auto tool: %v %q\n", err, out.String())
		return 1
	}
	fmt.Println("ok:", st)
	return 0
}

func TestSandboxUnavailable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "THUMBNAIL_TEST_NO_NAMESPACES=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	t.Logf("%s", out)
}

func TestStartSandboxRejectsUnknownMode(t *testing.T) {
	if _, err := StartSandbox(context.Background(), "on", SandboxLimits{}); err == nil {
		t.Error(`StartSandbox("on") accepted`)
	}
}
