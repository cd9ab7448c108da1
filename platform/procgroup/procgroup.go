// Package procgroup runs child processes (ffmpeg, ffprobe of the transcode
// and thumbnail workers) in their own process group, so that cancelling the
// context kills the child and everything it spawned, not just the direct
// child, and runs them as if their input were hostile ([Sandbox]): no
// inherited environment, resource limits, and where the kernel allows a
// network namespace of their own. A binary that imports it re-executes
// itself as the rlimit helper (see the package's init), so every worker
// that runs tools through it gets the helper without any code in main.
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
// (Setpgid), run in the [Default] sandbox: a minimal environment ([Env]),
// resource limits and, where the kernel allows, its own network namespace.
// On Linux the child is also killed if the worker dies (kill -9), so no
// ffmpeg outlives its worker. When ctx is done, the whole group gets
// SIGKILL; Wait returns at most WaitDelay later even if a grandchild holds
// the pipes open.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return Default().command(ctx, name, args...)
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
