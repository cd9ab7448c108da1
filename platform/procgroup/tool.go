package procgroup

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

// ToolStderr is how much of a tool's stderr a [ToolError] keeps (its end).
const ToolStderr = 2 << 10

// ToolError is a failed run of a tool by [RunTool]: it could not start, or
// it exited with a failure status or on a signal.
type ToolError struct {
	// Tool is the base name of the binary, e.g. "ffprobe".
	Tool string
	// Signaled is true when the process was terminated by a signal (e.g.
	// the OOM killer or the CPU-time limit), as opposed to exiting with an
	// error status: the worker's trouble, not the input's.
	Signaled bool
	// Err is the error of the run: an *exec.ExitError once the tool ran
	// ([Exited], [Signaled]), else why it did not start.
	Err error
	// Stderr is the end of the tool's diagnostic output (valid UTF-8, at
	// most ToolStderr bytes).
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

// RunTool runs bin with args in the [Default] sandbox; see
// [Sandbox.RunTool].
func RunTool(ctx context.Context, bin string, args []string, stdout io.Writer) error {
	return Default().RunTool(ctx, bin, args, stdout)
}

// RunTool runs bin with args in s (its own process group, killed with the
// worker; minimal environment, resource limits, its own network namespace
// when active) with stdin closed and stdout going to stdout (nil:
// discarded), and waits for it. When ctx ends first, the whole group is
// killed and the context's error is returned (wrapped, naming the tool).
// Any other failure is a *ToolError carrying the end of stderr.
func (s *Sandbox) RunTool(ctx context.Context, bin string, args []string, stdout io.Writer) error {
	cmd := s.Command(ctx, bin, args...)
	cmd.Stdout = stdout
	stderr := &Tail{Max: ToolStderr}
	cmd.Stderr = stderr
	err := cmd.Run()
	if err == nil {
		return nil
	}
	tool := filepath.Base(bin)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", tool, ctxErr)
	}
	return &ToolError{Tool: tool, Err: err, Signaled: Signaled(err),
		Stderr: strings.ToValidUTF8(stderr.String(), "?")}
}

// RequireTools checks at start-up that every tool (a name looked up in
// PATH, or a path) can be found, so that a worker without them fails at
// once with a clear message instead of dead-lettering its first records.
// hint says how to install them, e.g. "install ffmpeg, e.g. apt-get
// install ffmpeg".
func RequireTools(hint string, tools ...string) error {
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s not found (%s): %w", t, hint, err)
		}
	}
	return nil
}
