package procgroup

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunToolErrors(t *testing.T) {
	ctx := context.Background()
	var out strings.Builder
	if err := RunTool(ctx, "sh", []string{"-c", "echo out"}, &out); err != nil || out.String() != "out\n" {
		t.Fatalf("RunTool = %v, stdout %q", err, out.String())
	}
	err := RunTool(ctx, "sh", []string{"-c", "echo boom >&2; exit 3"}, nil)
	var te *ToolError
	if !errors.As(err, &te) || te.Signaled || !Exited(te.Err) || te.Tool != "sh" || te.Stderr != "boom" {
		t.Errorf("exit 3: err = %#v", err)
	}
	err = RunTool(ctx, "sh", []string{"-c", "kill -KILL $$"}, nil)
	if !errors.As(err, &te) || !te.Signaled || Exited(te.Err) {
		t.Errorf("killed: err = %#v, want Signaled", err)
	}
	err = RunTool(ctx, filepath.Join(t.TempDir(), "no-such-tool"), nil, nil)
	var ee *exec.ExitError
	if !errors.As(err, &te) || errors.As(err, &ee) {
		t.Errorf("missing binary: err = %v, want a start error", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err = RunTool(cctx, "sh", []string{"-c", "sleep 300"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) {
		t.Errorf("cancelled: err = %v, want the context's error", err)
	}
}

func TestWorkerSandboxLimits(t *testing.T) {
	ws := WorkerSandbox{Section: "thumbnail", MaxMemory: 1 << 30, AttemptTimeout: time.Minute}
	lim := ws.limits()
	def := DefaultLimits()
	if lim.AddressSpace != 1<<30 || lim.FileSize != def.FileSize || lim.OpenFiles != def.OpenFiles || lim.CPUTime < time.Minute {
		t.Errorf("limits %+v, want the defaults with 1 GiB and a minute per core", lim)
	}
	ws.Limits = Limits{FileSize: 4 << 30, OpenFiles: 256}
	ws.MaxMemory, ws.AttemptTimeout = 0, 0
	if lim := ws.limits(); lim != (Limits{FileSize: 4 << 30, OpenFiles: 256}) {
		t.Errorf("limits %+v, want the given ones without address space limit", lim)
	}
}

func TestRequireToolsNamesTheMissingOne(t *testing.T) {
	if err := RequireTools("install it", "sh"); err != nil {
		t.Fatalf("RequireTools(sh) = %v", err)
	}
	err := RequireTools("install ffmpeg, e.g. apt-get install ffmpeg", "sh", "vidpipe-no-such-tool")
	if err == nil || !strings.Contains(err.Error(), "vidpipe-no-such-tool not found (install ffmpeg, e.g. apt-get install ffmpeg)") || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("RequireTools = %v, want the missing tool named with the hint", err)
	}
}
