package devstack

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a command the Supervisor keeps running.
type Proc struct {
	// Name prefixes the process's output lines and the supervisor's
	// messages about it, e.g. "transcode-1".
	Name string
	// Path is the binary; Args follow it.
	Path string
	Args []string
	// Env is the whole environment; Dir the working directory.
	Env []string
	Dir string
}

// Backoff is the delay before restarting a process that exited: Initial
// after the first exit, doubling after each further exit up to Max, and
// back to Initial after a run that lasted at least Reset.
type Backoff struct {
	// Initial is the first delay. Default: 1s.
	Initial time.Duration
	// Max caps the delay. Default: 30s.
	Max time.Duration
	// Reset is how long a run must last for the next delay to start over
	// at Initial. Default: 30s.
	Reset time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Reset <= 0 {
		b.Reset = 30 * time.Second
	}
	return b
}

// next returns the delay before the next start, given the previous delay
// (0 before the first restart) and how long the last run lasted.
func (b Backoff) next(prev, ran time.Duration) time.Duration {
	b = b.withDefaults()
	if prev == 0 || ran >= b.Reset {
		return b.Initial
	}
	return min(2*prev, b.Max)
}

// Supervisor runs processes, restarts each that exits with backoff, and
// stops them all when its context ends.
type Supervisor struct {
	// Out receives each process's stdout and stderr, line by line,
	// prefixed with its name, and the supervisor's messages, prefixed
	// with "dev".
	Out *Output
	// Backoff paces restarts.
	Backoff Backoff
	// StopTimeout is how long a process may take to exit after SIGTERM
	// before its process group is killed. Default: 15s.
	StopTimeout time.Duration
}

// supervisorName prefixes the supervisor's own messages.
const supervisorName = "dev"

// Run starts every proc and keeps each running until ctx ends: a process
// that exits, or cannot be started, is started again after a backoff, and
// the supervisor says so ("transcode-1 exited (status 1); restarting in
// 2s"). When ctx ends, Run sends SIGTERM to every process, waits up to
// StopTimeout for each, kills the process group of those still running,
// and returns an error naming the processes that had to be killed.
//
// Each process runs in its own process group (a terminal's Ctrl-C reaches
// only the supervisor, which stops the processes itself), and on Linux
// gets SIGTERM if the supervisor dies.
func (s *Supervisor) Run(ctx context.Context, procs []Proc) error {
	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.keep(ctx, p)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// keep runs p until ctx ends, restarting it after each exit. It returns
// an error only if p had to be killed when ctx ended.
func (s *Supervisor) keep(ctx context.Context, p Proc) error {
	var delay time.Duration
	for {
		started := time.Now()
		exit, stopErr := s.runOnce(ctx, p)
		if ctx.Err() != nil {
			return stopErr
		}
		delay = s.Backoff.next(delay, time.Since(started))
		s.Out.Printf(supervisorName, "%s %s; restarting in %v", p.Name, describeExit(exit), delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// runOnce starts p and waits until it exits or ctx ends. It returns how p
// exited on its own (exit; a *startError if it could not start), or, if
// ctx ended first, what stopping it took: nil after a graceful exit on
// SIGTERM, an error if its process group had to be killed after
// StopTimeout.
func (s *Supervisor) runOnce(ctx context.Context, p Proc) (exit, stopErr error) {
	stdout, stderr := s.Out.Writer(p.Name), s.Out.Writer(p.Name)
	defer stdout.Close()
	defer stderr.Close()
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	cmd.Dir = p.Dir
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = childProcAttr()
	// A grandchild holding the output pipes must not keep Wait waiting.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return &startError{err}, nil
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err, nil
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	timeout := s.StopTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil, nil
	case <-t.C:
	}
	killGroup(cmd.Process.Pid)
	<-done
	s.Out.Printf(supervisorName, "%s did not stop within %v of SIGTERM: killed", p.Name, timeout)
	return nil, fmt.Errorf("%s did not stop within %v: killed", p.Name, timeout)
}

// startError is a process that could not be started at all.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// describeExit says how a process ended: "exited (status 1)", "exited
// (signal: killed)", "exited (status 0)" or "could not start (…)".
func describeExit(err error) string {
	var se *startError
	if errors.As(err, &se) {
		return fmt.Sprintf("could not start (%v)", se.err)
	}
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
