package thumbnail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
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
// writing stdout to stdout (may be nil). When ctx ends the whole group is
// killed (ffmpeg may have children, e.g. with some filters), and the
// context's error is returned. Other failures are *ToolError.
func runTool(ctx context.Context, bin string, args []string, stdout io.Writer) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = stdout
	stderr := &tailBuffer{max: stderrTail}
	cmd.Stderr = stderr
	cmd.SysProcAttr = processGroupAttr()
	cmd.Cancel = func() error {
		// Negative pid: the whole group (Setpgid makes pgid == pid).
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
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
