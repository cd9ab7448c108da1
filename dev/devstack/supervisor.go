package devstack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/platform/procgroup"
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
// after the first exit, doubling after each further exit up to Max
// (platform/backoff's policy, without jitter), and back to Initial after
// a run that lasted at least Reset.
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

// policy is the restart pacing as platform/backoff's policy.
func (b Backoff) policy() backoff.Policy {
	b = b.withDefaults()
	return backoff.Policy{Initial: b.Initial, Max: b.Max}
}

// nextRestart returns the number of the next restart (1 for the first, or
// after a run that lasted at least Reset), given the previous one (0
// before the first restart) and how long the last run lasted.
func (b Backoff) nextRestart(prev int, ran time.Duration) int {
	if prev == 0 || ran >= b.withDefaults().Reset {
		return 1
	}
	return prev + 1
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
// 2s"). When ctx ends, Run sends SIGTERM to every process group, waits up
// to StopTimeout for each, kills the process group of those still
// running, and returns an error naming the processes that had to be
// killed.
//
// Each process runs through platform/procgroup in its own process group (a
// terminal's Ctrl-C reaches only the supervisor, which stops the processes
// itself), and on Linux gets SIGTERM if the supervisor dies.
func (s *Supervisor) Run(ctx context.Context, procs []Proc) error {
	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Go(func() { errs[i] = s.keep(ctx, p) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// keep runs p until ctx ends, restarting it after each exit. It returns
// an error only if p had to be killed when ctx ended.
func (s *Supervisor) keep(ctx context.Context, p Proc) error {
	pacing := s.Backoff.policy()
	restart := 0
	for {
		started := time.Now()
		exit, stopErr := s.runOnce(ctx, p)
		if ctx.Err() != nil {
			return stopErr
		}
		restart = s.Backoff.nextRestart(restart, time.Since(started))
		delay := pacing.Delay(restart)
		s.Out.Printf(supervisorName, "%s %s; restarting in %v", p.Name, describeExit(exit), delay)
		if !backoff.Sleep(ctx, delay) {
			return nil
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
	proc, err := procgroup.Start(context.Background(), procgroup.Spec{
		Name: p.Name, Path: p.Path, Args: p.Args, Env: p.Env, Dir: p.Dir,
		Stdout: stdout, Stderr: stderr,
		// A graceful stop if the supervisor dies.
		DeathSignal: syscall.SIGTERM,
		// A grandchild holding the output pipes must not keep Wait waiting.
		WaitDelay: time.Second,
	})
	if err != nil {
		return &startError{err}, nil
	}
	select {
	case <-proc.Done():
		return proc.Wait(), nil
	case <-ctx.Done():
	}
	timeout := s.StopTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	if err := proc.Stop(syscall.SIGTERM, timeout); err != nil {
		s.Out.Printf(supervisorName, "%v", err)
		return nil, err
	}
	return nil, nil
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
	return procgroup.DescribeExit(err)
}
