package thumbnail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// waitDelay bounds how long Wait waits for a killed tool's pipes to close.
const waitDelay = 5 * time.Second

// stderrTail is how much of a tool's stderr an error keeps.
const stderrTail = 2048

// ToolError is a failed ffmpeg or ffprobe run.
type ToolError struct {
	Tool string // "ffmpeg" or "ffprobe"
	// Signaled is true when the process was killed by a signal (e.g. the
	// OOM killer), as opposed to exiting with an error status.
	Signaled bool
	Err      error
	// Stderr is the end of the tool's diagnostic output.
	Stderr string
}

func (e *ToolError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		return fmt.Sprintf("%s: %v", e.Tool, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Tool, e.Err, msg)
}

func (e *ToolError) Unwrap() error { return e.Err }

// runTool runs bin with args in its own process group, stdin closed,
// writing stdout to stdout (may be nil), in the sandbox ([StartSandbox]):
// minimal environment, resource limits, its own network namespace when
// active. When ctx ends the whole group is killed (ffmpeg may have
// children, e.g. with some filters), and the context's error is returned.
// Other failures are *ToolError.
func runTool(ctx context.Context, bin string, args []string, stdout io.Writer) error {
	cmd := currentSandbox().command(ctx, bin, args)
	cmd.Stdout = stdout
	stderr := &tailBuffer{max: stderrTail}
	cmd.Stderr = stderr
	err := cmd.Run()
	if err == nil {
		return nil
	}
	tool := filepath.Base(bin)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", tool, ctxErr)
	}
	te := &ToolError{Tool: tool, Err: err, Stderr: stderr.String()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			te.Signaled = true
		}
	}
	return te
}

// Sandbox modes (thumbnail.sandbox).
const (
	// SandboxAuto isolates ffmpeg and ffprobe in a network namespace of
	// their own when the kernel allows it, and runs them with the worker's
	// network (logged, reported) when it does not.
	SandboxAuto = "auto"
	// SandboxRequired refuses to start without the network namespace.
	SandboxRequired = "required"
	// SandboxOff never creates namespaces; the minimal environment and the
	// resource limits still apply.
	SandboxOff = "off"
)

// SandboxModes lists the accepted thumbnail.sandbox values.
var SandboxModes = []string{SandboxAuto, SandboxRequired, SandboxOff}

// ErrSandboxUnavailable matches the error of StartSandbox in
// SandboxRequired mode when the kernel allows no network namespace.
var ErrSandboxUnavailable = errors.New("sandbox unavailable")

// SandboxLimits are resource limits (setrlimit, soft = hard) of every
// ffmpeg and ffprobe, applied before they start. Zero means no limit.
type SandboxLimits struct {
	AddressSpace uint64        // RLIMIT_AS, bytes
	FileSize     uint64        // RLIMIT_FSIZE, bytes
	OpenFiles    uint64        // RLIMIT_NOFILE
	CPUTime      time.Duration // RLIMIT_CPU, rounded up to seconds
}

// DefaultSandboxLimits: 16 GiB of address space, 4 GiB per written file
// (stills and sprites are small), 256 open files, an hour of CPU per core.
func DefaultSandboxLimits() SandboxLimits {
	return SandboxLimits{AddressSpace: 16 << 30, FileSize: 4 << 30, OpenFiles: 256,
		CPUTime: time.Duration(runtime.NumCPU()) * time.Hour}
}

func (l SandboxLimits) zero() bool { return l == SandboxLimits{} }

// SandboxEnv is the whole environment of every ffmpeg and ffprobe: no
// credential or worker setting (VIDPIPE_*, AWS_*) reaches them.
var SandboxEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}

// SandboxStatus is what StartSandbox found out.
type SandboxStatus struct {
	Mode string
	// Active: the tools run in a network namespace of their own.
	Active bool
	// Isolation is "network namespace" or "user+network namespace".
	Isolation string
	// Reason says why the sandbox is not active.
	Reason string
	Limits SandboxLimits
}

func (s SandboxStatus) String() string {
	lim := fmt.Sprintf("rlimits as=%d fsize=%d nofile=%d cpu=%s",
		s.Limits.AddressSpace, s.Limits.FileSize, s.Limits.OpenFiles, s.Limits.CPUTime)
	if s.Active {
		return fmt.Sprintf("active (%s, minimal env, %s; mode %s)", s.Isolation, lim, s.Mode)
	}
	return fmt.Sprintf("inactive (no network isolation: %s; minimal env, %s; mode %s)", s.Reason, lim, s.Mode)
}

type sandbox struct {
	status SandboxStatus
	iso    isolation
}

var (
	sandboxMu  sync.Mutex
	sandboxCur *sandbox
)

// StartSandbox checks what the kernel allows (by starting one sandboxed
// child) and makes every later ffmpeg and ffprobe of this package run in
// that sandbox. In SandboxRequired mode it fails, matching
// ErrSandboxUnavailable, when no network namespace can be made.
func StartSandbox(ctx context.Context, mode string, lim SandboxLimits) (SandboxStatus, error) {
	sb, err := newSandbox(ctx, mode, lim)
	if err != nil {
		return SandboxStatus{}, err
	}
	sandboxMu.Lock()
	sandboxCur = sb
	sandboxMu.Unlock()
	return sb.status, nil
}

func newSandbox(ctx context.Context, mode string, lim SandboxLimits) (*sandbox, error) {
	if !slices.Contains(SandboxModes, mode) {
		return nil, fmt.Errorf("sandbox mode must be one of auto, required, off (got %q)", mode)
	}
	sb := &sandbox{status: SandboxStatus{Mode: mode, Limits: lim}}
	if mode == SandboxOff {
		sb.status.Reason = "sandbox = off"
		return sb, nil
	}
	iso, name, err := probeIsolation(ctx)
	if err != nil {
		if mode == SandboxRequired {
			return nil, fmt.Errorf("%w: no network namespace for ffmpeg (sandbox = required): %v", ErrSandboxUnavailable, err)
		}
		sb.status.Reason = err.Error()
		return sb, nil
	}
	sb.iso, sb.status.Active, sb.status.Isolation = iso, true, name
	return sb, nil
}

// currentSandbox is the sandbox of StartSandbox, else one probed on first
// use in auto mode with the default limits.
func currentSandbox() *sandbox {
	sandboxMu.Lock()
	defer sandboxMu.Unlock()
	if sandboxCur == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sb, err := newSandbox(ctx, SandboxAuto, DefaultSandboxLimits())
		if err != nil {
			panic(err)
		}
		sandboxCur = sb
	}
	return sandboxCur
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
	cut bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		b.cut = true
		return n, nil
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.cut = true
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) String() string {
	s := string(bytes.ToValidUTF8(b.buf, []byte("?")))
	if b.cut {
		return "…" + s
	}
	return s
}

// isExitError reports whether err says the process ran and exited with a
// failure status (as opposed to not starting at all).
func isExitError(err error) bool {
	var exitErr *exec.ExitError
	return errors.As(err, &exitErr)
}
