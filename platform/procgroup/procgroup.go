// Package procgroup is vidpipe's one way to run child processes: each in
// its own process group, so that a stop or a cancelled context reaches the
// child and everything it spawned, not just the direct child, and (on
// Linux) with a parent-death signal, so no child outlives a crashed parent.
//
// Two ways in share these primitives:
//
//   - [Start] runs a long-lived process (a server, a service of the dev
//     stack, a benchmark's worker) described by a [Spec]: output to
//     writers or a log file, graceful [Process.Stop] (signal the group,
//     wait a grace period, then SIGKILL the group), [Process.Kill],
//     [Process.Wait], a readiness wait that notices an early exit
//     ([Process.WaitReady]) and the end of its log ([Process.LogTail]).
//   - [Command] and [RunTool] run a tool (ffmpeg, ffprobe of the transcode
//     and thumbnail workers) as if its input were hostile ([Sandbox]): no
//     inherited environment, resource limits, and where the kernel allows
//     a network namespace of its own. A binary that imports this package
//     re-executes itself as the rlimit helper (see the package's init), so
//     every worker that runs tools through it gets the helper without any
//     code in main; [StartSandbox] is a worker's sandbox start-up.
//
// [Signaled] and [Exited] classify how a child ended.
package procgroup

import (
	"context"
	"errors"
	"fmt"
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

// signalGroup sends sig to the process group led by pid (Setpgid makes the
// child its group's leader; a negative pid addresses the group). A group
// that no longer exists is not an error.
func signalGroup(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("signal process group %d with %v: %w", pid, SignalName(sig), err)
	}
	return nil
}

// killOnCancel makes cmd's context end SIGKILL cmd's whole process group,
// and bounds how long Wait waits for the output pipes after that (a
// grandchild may hold them open) to delay (0: [WaitDelay]).
func killOnCancel(cmd *exec.Cmd, delay time.Duration) {
	cmd.Cancel = func() error { return signalGroup(cmd.Process.Pid, syscall.SIGKILL) }
	if delay <= 0 {
		delay = WaitDelay
	}
	cmd.WaitDelay = delay
}

// SignalName is the conventional name of sig ("SIGTERM"), for messages;
// signals without one here are named by sig.String().
func SignalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// DescribeExit says how a process ended, from the error of its Wait:
// "exited (status 1)", "exited (signal: killed)", "exited (status 0)" for
// nil, or "exited (<err>)" for an error that is not an exit status.
func DescribeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("exited (signal: %v)", ws.Signal())
		}
		return fmt.Sprintf("exited (status %d)", ee.ExitCode())
	}
	if err != nil {
		return fmt.Sprintf("exited (%v)", err)
	}
	return "exited (status 0)"
}
