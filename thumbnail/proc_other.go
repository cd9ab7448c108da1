//go:build unix && !linux

package thumbnail

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
)

// isolation is empty: namespaces and the rlimit helper are Linux-only.
type isolation struct{}

// command runs the tool in its own process group with the minimal
// environment (no namespace, no resource limits outside Linux).
func (s *sandbox) command(ctx context.Context, name string, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append([]string(nil), SandboxEnv...)
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	return cmd
}

func probeIsolation(context.Context) (isolation, string, error) {
	return isolation{}, "", errors.New("network namespaces need Linux")
}
