// Package procs starts the service binaries as child processes for the
// benchmarks, stops them, waits for their HTTP endpoints and reads their
// memory use from /proc.
package procs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec says how to start a process.
type Spec struct {
	// Name labels the process in errors.
	Name string
	// Path of the binary and its Args.
	Path string
	Args []string
	// Env is added to the parent's environment (later entries win).
	Env []string
	// LogPath receives stdout and stderr (truncated at start). Required.
	LogPath string
}

// Proc is a running child process. It is started in its own process
// group, which Stop kills as a whole if SIGTERM is not enough, and it is
// killed if the parent dies (Linux).
type Proc struct {
	Name    string
	LogPath string
	// Started is when the process was started.
	Started time.Time

	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	mu   sync.Mutex
	err  error // Wait's result, once done is closed
}

// Start starts the process.
func Start(s Spec) (*Proc, error) {
	if s.LogPath == "" {
		return nil, fmt.Errorf("start %s: no log path", s.Name)
	}
	if err := os.MkdirAll(filepath.Dir(s.LogPath), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	f, err := os.Create(s.LogPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: log file: %w", s.Name, err)
	}
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	p := &Proc{Name: s.Name, LogPath: s.LogPath, cmd: cmd, log: f, done: make(chan struct{})}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s (%s): %w", s.Name, s.Path, err)
	}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM and waits up to grace for the exit; then it kills
// the process group. Stopping an exited process does nothing.
func (p *Proc) Stop(grace time.Duration) error {
	if done, _ := p.Exited(); done {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	killGroup(p.PID())
	<-p.done
	return fmt.Errorf("%s did not stop within %s of SIGTERM: killed", p.Name, grace)
}

// Tail returns the last n lines of the process log.
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// PeakRSS is the process's peak resident set size (VmHWM) in bytes.
func (p *Proc) PeakRSS() (int64, error) { return StatusBytes(p.PID(), "VmHWM") }

// RSS is the process's current resident set size (VmRSS) in bytes.
func (p *Proc) RSS() (int64, error) { return StatusBytes(p.PID(), "VmRSS") }

// CPUSeconds is the user+system CPU time the process has used so far,
// including its children that it has waited for (/proc/PID/stat utime,
// stime, cutime, cstime; USER_HZ is 100 on Linux).
func (p *Proc) CPUSeconds() (float64, error) { return CPUSeconds(p.PID()) }

// CPUSeconds reads the CPU time of pid; see [Proc.CPUSeconds].
func CPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return StatCPUSeconds(b)
}

// StatCPUSeconds parses utime+stime+cutime+cstime out of /proc/PID/stat
// content, in seconds.
func StatCPUSeconds(stat []byte) (float64, error) {
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime..cstime are fields 14..17.
	if len(f) < 15 {
		return 0, fmt.Errorf("stat: %d fields", len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return float64(ticks) / 100, nil
}

// StatusBytes reads a "kB" field (VmHWM, VmRSS, …) of /proc/PID/status.
func StatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	kib, err := StatusKiB(b, field)
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return kib << 10, nil
}

// StatusKiB parses field (e.g. "VmHWM") out of /proc/PID/status content.
func StatusKiB(status []byte, field string) (int64, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		var n int64
		var unit string
		if _, err := fmt.Sscan(string(rest), &n, &unit); err != nil || unit != "kB" {
			return 0, fmt.Errorf("%s: cannot parse %q", field, strings.TrimSpace(string(rest)))
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s not in status", field)
}

// WaitHTTP polls url until it answers 200, p exits, or timeout passes.
// p may be nil.
func WaitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		if p != nil {
			if done, werr := p.Exited(); done {
				return fmt.Errorf("%s exited (%v) before %s answered; log tail:\n%s", p.Name, werr, url, p.Tail(20))
			}
		}
		select {
		case <-ctx.Done():
			if p != nil {
				return fmt.Errorf("%s: %s not ready within %s (last: %v); log tail:\n%s", p.Name, url, timeout, last, p.Tail(20))
			}
			return fmt.Errorf("%s not ready within %s (last: %v)", url, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FreeAddr returns a free 127.0.0.1:port.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Build compiles packages (import path or ./relative to root) into outDir
// with one `go build` run in root. Each binary is named after the last
// element of its package path.
func Build(ctx context.Context, root, outDir string, pkgs ...string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("bin directory: %w", err)
	}
	args := append([]string{"build", "-o", outDir + string(os.PathSeparator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
		}
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}
