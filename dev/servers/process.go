// Package servers starts the real servers vidpipe runs against on one
// machine: an in-process Kafka-protocol broker (franz-go kfake), a MinIO
// server process and a PostgreSQL server process. The test harness
// (package harness) and the development stack (package devstack,
// `vidpipe-dev`) both start their servers here.
//
// Every server listens on 127.0.0.1. A port of 0 picks a free port; a
// given port is used as is. Each server can be stopped and started again
// on the same port with the same data.
//
// # Processes
//
// MinIO and PostgreSQL run through platform/procgroup, in their own
// process group, so a terminal's Ctrl-C reaches only the parent, which
// stops them in order. On Linux the kernel kills them if the parent dies
// first (parent-death signal), so no server outlives a crashed parent.
// Their output is appended to a log file; a server that exits before it is
// ready, or is not ready in time, is reported as a *StartError carrying
// the end of that log.
//
// # Missing tools
//
// A missing binary is an error that says how to install it (InstallHint).
package servers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

const (
	// startTimeout bounds how long a server process may take to become ready.
	startTimeout = 30 * time.Second
	// stopTimeout is how long a server process may take to exit after its
	// stop signal before it is killed.
	stopTimeout = 15 * time.Second
	// startAttempts bounds the retries of a first start whose free port was
	// taken by someone else between picking and binding it.
	startAttempts = 3
	// rebindTimeout bounds the retries of a start on a given port while
	// that port is still in use (e.g. by the previous run of the server).
	rebindTimeout = 10 * time.Second
	// logTailBytes is how much of a server log goes into a StartError.
	logTailBytes = 4 << 10
)

// ErrAddrInUse is matched (errors.Is) by the error of a start that failed
// because the server could not bind its port.
var ErrAddrInUse = errors.New("address already in use")

// StartError reports a server process that exited before it was ready or
// did not become ready in time. Its message ends with the end of the
// server's log.
type StartError struct {
	// Server names the server, e.g. "minio".
	Server string
	// Err says what happened; it wraps ErrAddrInUse when the server could
	// not bind its port.
	Err error
	// LogPath is the server's log file and LogTail its last lines (at most
	// 4 KiB) written by this start.
	LogPath string
	LogTail string
}

func (e *StartError) Error() string { return fmt.Sprintf("%v; log:\n%s", e.Err, e.LogTail) }
func (e *StartError) Unwrap() error { return e.Err }

// startServer starts the server process of spec (which outlives ctx: stop
// it with its Stop) and waits until ready passes. A server that exits
// before it is ready is reported as a *StartError (wrapping ErrAddrInUse
// when it failed to bind its port); one not ready within timeout is
// killed and reported as a *StartError; on ctx's end it is killed and
// ctx's error returned.
func startServer(ctx context.Context, spec procgroup.Spec, timeout time.Duration, ready func(context.Context) error) (*procgroup.Process, error) {
	p, err := procgroup.Start(context.Background(), spec)
	if err != nil {
		return nil, err
	}
	err = p.WaitReady(ctx, timeout, ready)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, procgroup.ErrExited):
		tail := p.LogTail(logTailBytes)
		if lower := strings.ToLower(tail); strings.Contains(lower, "address already in use") || strings.Contains(lower, "port is already in use") {
			err = fmt.Errorf("%w: %w", ErrAddrInUse, err)
		}
		return nil, &StartError{Server: p.Name, Err: err, LogPath: spec.LogPath, LogTail: tail}
	case errors.Is(err, procgroup.ErrNotReady):
		killErr := p.Kill()
		se := &StartError{Server: p.Name, Err: err, LogPath: spec.LogPath, LogTail: p.LogTail(logTailBytes)}
		if killErr != nil {
			return nil, errors.Join(se, killErr)
		}
		return nil, se
	}
	return nil, errors.Join(err, p.Kill())
}

// startOnPort starts a server on port, or on a fresh free port when port is
// 0, with start returning ErrAddrInUse (wrapped) when the port was taken.
// A fresh port is retried startAttempts times with new ports; a given port
// is retried until rebindTimeout while it is still in use (a restart whose
// previous process has not released it yet). It returns the port the
// server started on.
func startOnPort(ctx context.Context, port int, start func(port int) error) (int, error) {
	if port != 0 {
		deadline := time.Now().Add(rebindTimeout)
		for {
			err := start(port)
			if err == nil || !errors.Is(err, ErrAddrInUse) || time.Now().After(deadline) || ctx.Err() != nil {
				return port, err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var err error
	for range startAttempts {
		var p int
		if p, err = launch.FreePort(); err != nil {
			return 0, err
		}
		if err = start(p); err == nil || !errors.Is(err, ErrAddrInUse) {
			return p, err
		}
	}
	return 0, err
}
