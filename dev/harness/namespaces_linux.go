package harness

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// RunWithoutNamespaces re-runs the test binary (no tests; in os.TempDir())
// in a user namespace of its own with env=1 set: the child's init or
// TestMain sees env, calls [DropNamespaces] and checks what the sandbox
// does where the kernel allows no namespace; it exits 0 on success. The
// test fails on any other exit and logs the child's output.
func RunWithoutNamespaces(tb testing.TB, env string) {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%v:\n%s", err, out)
	}
	tb.Logf("%s", out)
}

// DropNamespaces, in the child of [RunWithoutNamespaces], forbids further
// user namespaces and drops to uid and gid 1000, so that no network
// namespace can be made either.
func DropNamespaces() error {
	if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0"), 0); err != nil {
		return fmt.Errorf("forbid user namespaces: %w", err)
	}
	if err := syscall.Setgid(1000); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(1000); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	return nil
}
