package procgroup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Spec describes a long-lived child process for [Start]: a server, a
// service of the dev stack, a worker under a benchmark or a test. Unlike
// [Command], it runs outside the tool sandbox: with the environment it is
// given, no resource limits and the parent's network.
type Spec struct {
	// Name labels the process in errors, e.g. "minio". Default: the base
	// name of Path.
	Name string
	// Path is the binary; Args follow it (without argv[0]).
	Path string
	Args []string
	// Env is the whole environment of the process. Default (nil): the
	// parent's. See [EnvWithout] to drop variables.
	Env []string
	// Dir is the working directory. Default: the parent's.
	Dir string
	// Stdout and Stderr receive the process's output when LogPath is
	// empty; nil discards it. A writer that is not an *os.File is fed by
	// a goroutine that [Process.Wait] waits for (at most WaitDelay after
	// the exit when a grandchild holds the pipe open).
	Stdout, Stderr io.Writer
	// LogPath, when not empty, is a file that receives both stdout and
	// stderr: created (with its directory) if needed and appended to, or
	// emptied first with TruncateLog. [Process.LogTail] reads what this
	// start wrote to it.
	LogPath     string
	TruncateLog bool
	// DeathSignal is what the kernel sends the process when the parent
	// dies (Linux only; elsewhere a child can outlive a crashed parent).
	// Default: SIGKILL. SIGTERM gives it a graceful stop instead.
	DeathSignal syscall.Signal
	// Credential runs the process as another user (Linux only, needs
	// root). Default (nil): the current user.
	Credential *syscall.Credential
	// WaitDelay bounds how long Wait waits for the output pipes after the
	// process exited or was killed. Default: [WaitDelay].
	WaitDelay time.Duration
}

// Process is a child started by [Start], leader of its own process group.
// Its methods are safe for concurrent use.
type Process struct {
	// Name labels the process in errors.
	Name string
	// Started is when the process was started.
	Started time.Time

	cmd     *exec.Cmd
	logPath string
	logFrom int64         // size of the log when this process started
	done    chan struct{} // closed when the process has exited and been reaped
	err     error         // Wait's result; valid once done is closed
}

// ErrKilled is matched (errors.Is) by the error of a [Process.Stop] that
// had to SIGKILL the process group after the grace period.
var ErrKilled = errors.New("killed")

// ErrExited is matched by the error of a [Process.WaitReady] whose process
// exited before it was ready.
var ErrExited = errors.New("exited before it was ready")

// ErrNotReady is matched by the error of a [Process.WaitReady] whose
// process was not ready within the timeout.
var ErrNotReady = errors.New("not ready")

// Start starts the process described by s in its own process group (a
// terminal's Ctrl-C reaches only the parent, which stops its children
// itself), with s.DeathSignal sent by the kernel if the parent dies first.
// When ctx ends, the whole group gets SIGKILL; pass a context that lives
// as long as the process should, and stop it gracefully with
// [Process.Stop] before that.
func Start(ctx context.Context, s Spec) (*Process, error) {
	name := s.Name
	if name == "" {
		name = filepath.Base(s.Path)
	}
	cmd := exec.CommandContext(ctx, s.Path, s.Args...)
	cmd.Env = s.Env
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	var from int64
	if s.LogPath != "" {
		f, off, err := openLog(s.LogPath, s.TruncateLog)
		if err != nil {
			return nil, fmt.Errorf("%s log: %w", name, err)
		}
		defer f.Close() // the child holds its own descriptor
		from = off
		cmd.Stdout, cmd.Stderr = f, f
	}
	sig := s.DeathSignal
	if sig == 0 {
		sig = syscall.SIGKILL
	}
	cmd.SysProcAttr = sysProcAttr(sig, s.Credential)
	killOnCancel(cmd, s.WaitDelay)
	p := &Process{Name: name, cmd: cmd, logPath: s.LogPath, logFrom: from, done: make(chan struct{})}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// openLog opens path for appending (emptied first if truncate), creating
// it and its directory, and returns its size before this start.
func openLog(path string, truncate bool) (*os.File, int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, 0, err
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, 0, err
	}
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	return f, size, nil
}

// PID is the process id (and its process group's id).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and if so the error of
// its Wait (nil for status 0; see [Signaled], [Exited], [DescribeExit]).
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Wait waits for the process to exit and returns the error of its Wait.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Signal sends sig to the process alone, not its group. Signalling an
// exited process does nothing.
func (p *Process) Signal(sig syscall.Signal) error {
	if done, _ := p.Exited(); done {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	return nil
}

// SignalGroup sends sig to the process's whole group. Signalling an
// exited process does nothing.
func (p *Process) SignalGroup(sig syscall.Signal) error {
	if done, _ := p.Exited(); done {
		return nil
	}
	if err := signalGroup(p.PID(), sig); err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	return nil
}

// Stop stops the process gracefully: it sends sig to the process group,
// waits up to grace for the process to exit, then SIGKILLs the group and
// waits for the exit. How the process exited on sig is not an error;
// having to kill it is (matching ErrKilled: "NAME did not stop within
// GRACE of SIG: killed"). Stopping an exited process does nothing.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) error {
	if err := p.SignalGroup(sig); err != nil {
		return errors.Join(err, p.Kill())
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	if err := p.Kill(); err != nil {
		return err
	}
	return fmt.Errorf("%s did not stop within %v of %s: %w", p.Name, grace, SignalName(sig), ErrKilled)
}

// Kill SIGKILLs the process group and waits for the process to exit.
// Killing an exited process does nothing.
func (p *Process) Kill() error {
	if err := p.SignalGroup(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// readyPoll is how often WaitReady checks; readyCheckMax bounds one check.
const (
	readyPoll     = 50 * time.Millisecond
	readyCheckMax = 5 * time.Second
)

// WaitReady calls ready until it returns nil, the process exits, timeout
// passes or ctx ends; each call gets a context bounded by 5s and by the
// timeout. A process that exits first is an error matching ErrExited
// ("NAME exited before it was ready (exit status 1)"), one still not ready
// after timeout an error matching ErrNotReady with the last check's
// error; on ctx's end it returns an error wrapping ctx.Err(). It does not
// stop the process: that is the caller's choice.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if done, err := p.Exited(); done {
			return fmt.Errorf("%s %w (%s)", p.Name, ErrExited, exitDetail(err))
		}
		checkDeadline := time.Now().Add(readyCheckMax)
		if deadline.Before(checkDeadline) {
			checkDeadline = deadline
		}
		checkCtx, cancel := context.WithDeadline(ctx, checkDeadline)
		last = ready(checkCtx)
		cancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: wait until ready: %w", p.Name, ctx.Err())
		}
		if !time.Now().Before(deadline) {
			if done, err := p.Exited(); done {
				return fmt.Errorf("%s %w (%s)", p.Name, ErrExited, exitDetail(err))
			}
			return fmt.Errorf("%s %w within %v (last check: %v)", p.Name, ErrNotReady, timeout, last)
		}
		select {
		case <-ctx.Done():
		case <-p.done:
		case <-time.After(readyPoll):
		}
	}
}

// exitDetail is the error of a process's Wait for messages: "exit status
// 1", "signal: killed", or "status 0".
func exitDetail(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// LogPath is the file of [Spec.LogPath] ("" if none).
func (p *Process) LogPath() string { return p.logPath }

// LogTail returns at most maxBytes from the end of what this process wrote
// to its log file, trimmed of surrounding white space; "" without a log
// file, or a note in parentheses when the log cannot be read.
func (p *Process) LogTail(maxBytes int64) string {
	if p.logPath == "" {
		return ""
	}
	return readTail(p.logPath, p.logFrom, maxBytes)
}

// LogTail returns at most maxBytes from the end of the file at path,
// trimmed of surrounding white space, or a note in parentheses when the
// file cannot be read.
func LogTail(path string, maxBytes int64) string { return readTail(path, 0, maxBytes) }

// readTail returns at most max bytes from the end of the file at path,
// not looking before offset from.
func readTail(path string, from, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if st.Size()-max > from {
		from = st.Size() - max
	}
	if from > st.Size() { // truncated since
		from = 0
	}
	b, err := io.ReadAll(io.NewSectionReader(f, from, st.Size()-from))
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	return string(bytes.TrimSpace(b))
}

// EnvWithout returns os.Environ() without the variables whose names start
// with one of prefixes (e.g. "VIDPIPE_"), so that the caller's environment
// cannot redirect or reconfigure a child.
func EnvWithout(prefixes ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if len(kv) >= len(p) && kv[:len(p)] == p {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}
