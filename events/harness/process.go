package harness

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
	// rebindTimeout bounds the retries of a restart on the same port while
	// that port is still in use.
	rebindTimeout = 10 * time.Second
	// logTailBytes is how much of a server log goes into an error message.
	logTailBytes = 4 << 10
)

// errAddrInUse reports that a server could not bind its port.
var errAddrInUse = errors.New("address already in use")

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
// to s.logPath. On Linux the process is killed with s.deathSig if the test
// binary dies first.
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

// waitReady polls ready until it succeeds, the process exits or timeout
// passes. A process that exits or times out is stopped and reported with
// the tail of its log; one that failed to bind its port wraps errAddrInUse.
func (p *process) waitReady(timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		if p.exited() {
			tail := p.logTail()
			err := fmt.Errorf("%s exited before it was ready (%v); log:\n%s", p.name, p.err, tail)
			if strings.Contains(strings.ToLower(tail), "address already in use") {
				err = fmt.Errorf("%w: %w", errAddrInUse, err)
			}
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		lastErr = ready(ctx)
		cancel()
		if lastErr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			stopErr := p.stop(syscall.SIGKILL, stopTimeout)
			return errors.Join(fmt.Errorf("%s not ready within %v (last check: %v); log:\n%s", p.name, timeout, lastErr, p.logTail()), stopErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTail returns the end of what this process wrote to its log.
func (p *process) logTail() string {
	return readLogTail(p.logPath, p.logFrom, logTailBytes)
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

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Someone else may take it before the caller binds it; callers retry on
// errAddrInUse.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startOnPort starts a server on port, or on a fresh free port when port is
// 0, with start returning errAddrInUse (wrapped) when the port was taken.
// A fresh port is retried startAttempts times with new ports; a given port
// (a restart) is retried until rebindTimeout while it is still in use.
// It returns the port the server started on.
func startOnPort(port int, start func(port int) error) (int, error) {
	if port != 0 {
		deadline := time.Now().Add(rebindTimeout)
		for {
			err := start(port)
			if err == nil || !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
				return port, err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var err error
	for range startAttempts {
		var p int
		if p, err = freePort(); err != nil {
			return 0, err
		}
		if err = start(p); err == nil || !errors.Is(err, errAddrInUse) {
			return p, err
		}
	}
	return 0, err
}

// envWithout returns os.Environ() without the variables whose names start
// with one of prefixes, so that the caller's environment cannot redirect a
// test server.
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
