package thumbnail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/platform/procgroup"
)

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

// runTool runs bin with args through procgroup (its own process group,
// killed with the worker, in the sandbox the worker started: minimal
// environment, resource limits, its own network namespace when active),
// stdin closed, writing stdout to stdout (may be nil). When ctx ends the
// whole group is killed (ffmpeg may have children, e.g. with some
// filters), and the context's error is returned. Other failures are
// *ToolError.
func runTool(ctx context.Context, bin string, args []string, stdout io.Writer) error {
	cmd := procgroup.Command(ctx, bin, args...)
	cmd.Stdout = stdout
	stderr := &procgroup.Tail{Max: stderrTail}
	cmd.Stderr = stderr
	err := cmd.Run()
	if err == nil {
		return nil
	}
	tool := filepath.Base(bin)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", tool, ctxErr)
	}
	return &ToolError{Tool: tool, Err: err, Signaled: procgroup.Signaled(err),
		Stderr: strings.ToValidUTF8(stderr.String(), "?")}
}

// SandboxLimits are the thumbnail worker's resource limits of every ffmpeg
// and ffprobe (procgroup's defaults with 4 GiB per written file, as stills
// and sprites are small, and 256 open files); the worker sets the address
// space and CPU time from its configuration.
func SandboxLimits() procgroup.Limits {
	return procgroup.Limits{AddressSpace: 16 << 30, FileSize: 4 << 30, OpenFiles: 256,
		CPUTime: time.Duration(runtime.NumCPU()) * time.Hour}
}

// isExitError reports whether err says the process ran and exited with a
// failure status (as opposed to not starting at all).
func isExitError(err error) bool {
	var exitErr *exec.ExitError
	return errors.As(err, &exitErr)
}
