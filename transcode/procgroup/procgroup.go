// Package procgroup runs child processes (ffmpeg, ffprobe) in their own
// process group, so that cancelling the context kills the child and
// everything it spawned, not just the direct child.
package procgroup

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// WaitDelay is how long Wait waits for the output pipes to close after the
// process group was killed, before it closes them itself.
const WaitDelay = 5 * time.Second

// Command is exec.CommandContext with the child in a new process group
// (Setpgid); on Linux the child is also killed if the worker dies (kill -9),
// so no ffmpeg outlives its worker. When ctx is done, the whole group gets SIGKILL; Wait returns
// at most WaitDelay later even if a grandchild holds the pipes open.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error {
		// A negative pid addresses the process group whose id is the
		// child's pid (Setpgid makes the child its group leader).
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	cmd.WaitDelay = WaitDelay
	return cmd
}

// Signaled reports whether err is an *exec.ExitError of a process that was
// terminated by a signal (for example killed by the OOM killer), as opposed
// to one that exited with a status.
func Signaled(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// Exited reports whether err is an *exec.ExitError of a process that exited
// with a non-zero status on its own.
func Exited(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Exited()
}
