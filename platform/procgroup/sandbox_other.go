//go:build !linux

package procgroup

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
)

// isolation is empty: namespaces are Linux-only.
type isolation struct{}

// command runs name in its own process group with the minimal environment;
// resource limits and namespaces are not applied outside Linux.
func (s *Sandbox) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = sysProcAttr(syscall.SIGKILL, nil)
	cmd.Env = append([]string(nil), Env...)
	killOnCancel(cmd, WaitDelay)
	return cmd
}

func probeIsolation(context.Context) (isolation, string, error) {
	return isolation{}, "", errors.New("network namespaces need Linux")
}
