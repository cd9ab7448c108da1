// Package servers starts the real servers vidpipe runs against on one
// machine: an in-process Kafka-protocol broker (franz-go kfake), a MinIO
// server process and a PostgreSQL server process. The test harness
// (package harness) and the development stack (package devstack,
// `vidpipectl dev`) both start their servers here.
//
// Every server listens on 127.0.0.1. A port of 0 picks a free port; a
// given port is used as is. Each server can be stopped and started again
// on the same port with the same data.
//
// # Processes
//
// MinIO and PostgreSQL run in their own process group, so a terminal's
// Ctrl-C reaches only the parent, which stops them in order. On Linux the
// kernel kills them if the parent dies first (parent-death signal), so no
// server outlives a crashed parent. Their output is appended to a log file;
// a server that exits before it is ready, or is not ready in time, is
// reported as a *StartError carrying the end of that log.
//
// # Missing tools
//
// A missing binary is an error that says how to install it (InstallHint).
package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
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

// procSpec describes a server process.
type procSpec struct {
	name     string   // for messages, e.g. "minio"
	path     string   // binary
	args     []string // arguments after the binary
	env      []string // full environment
	dir      string   // working directory
	logPath  string   // stdout and stderr are appended here
	deathSig syscall.Signal
	cred     *syscall.Credential // run as this user; nil: the current user
}

// process is a running server process.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFrom int64         // size of the log when this process started
	done    chan struct{} // closed when the process has exited
	err     error         // exit status; valid once done is closed
}

// startProcess starts the process described by s. Its output is appended
// to s.logPath. On Linux the process is killed with s.deathSig if the
// parent dies first.
func startProcess(s procSpec) (*process, error) {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", s.name, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	var from int64
	if st, err := logFile.Stat(); err == nil {
		from = st.Size()
	}
	cmd := exec.Command(s.path, s.args...)
	cmd.Env = s.env
	cmd.Dir = s.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr(s.deathSig, s.cred)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	p := &process{name: s.name, cmd: cmd, logPath: s.logPath, logFrom: from, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to grace for the process to exit, then kills it.
// The exit status of a stopped process is not an error; being killed after
// grace is.
func (p *process) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v of %v: killed", p.name, grace, sig)
	}
}

// waitReady polls ready until it succeeds, the process exits, timeout
// passes or ctx is done. A process that exits is reported as a *StartError
// (wrapping ErrAddrInUse when it failed to bind its port); one that times
// out is killed and reported as a *StartError; on ctx's end it is killed
// and ctx's error returned.
func (p *process) waitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		if p.exited() {
			tail := p.logTail()
			err := fmt.Errorf("%s exited before it was ready (%v)", p.name, p.err)
			if strings.Contains(strings.ToLower(tail), "address already in use") {
				err = fmt.Errorf("%w: %w", ErrAddrInUse, err)
			}
			return &StartError{Server: p.name, Err: err, LogPath: p.logPath, LogTail: tail}
		}
		checkCtx, cancel := context.WithTimeout(ctx, time.Second)
		lastErr = ready(checkCtx)
		cancel()
		if lastErr == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(fmt.Errorf("%s: start: %w", p.name, ctx.Err()), p.stop(syscall.SIGKILL, stopTimeout))
		}
		if time.Now().After(deadline) {
			stopErr := p.stop(syscall.SIGKILL, stopTimeout)
			err := &StartError{
				Server:  p.name,
				Err:     fmt.Errorf("%s not ready within %v (last check: %v)", p.name, timeout, lastErr),
				LogPath: p.logPath,
				LogTail: p.logTail(),
			}
			if stopErr != nil {
				return errors.Join(err, stopErr)
			}
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logTail returns the end of what this process wrote to its log.
func (p *process) logTail() string {
	return readLogTail(p.logPath, p.logFrom, logTailBytes)
}

// LogTail returns at most maxBytes from the end of the file at path, with
// surrounding white space trimmed, or a note in parentheses when the file
// cannot be read.
func LogTail(path string, maxBytes int64) string {
	return readLogTail(path, 0, maxBytes)
}

// readLogTail returns at most max bytes from the end of the file at path,
// not looking before offset from.
func readLogTail(path string, from int64, max int64) string {
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
	b, err := io.ReadAll(io.NewSectionReader(f, from, st.Size()-from))
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	return string(bytes.TrimSpace(b))
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Someone else may take it before the caller binds it.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
		if p, err = FreePort(); err != nil {
			return 0, err
		}
		if err = start(p); err == nil || !errors.Is(err, ErrAddrInUse) {
			return p, err
		}
	}
	return 0, err
}

// envWithout returns os.Environ() without the variables whose names start
// with one of prefixes, so that the caller's environment cannot redirect a
// server.
func envWithout(prefixes ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}
