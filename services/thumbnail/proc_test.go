package thumbnail

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunToolErrors(t *testing.T) {
	ctx := context.Background()
	err := runTool(ctx, "sh", []string{"-c", "echo boom >&2; exit 3"}, nil)
	var te *ToolError
	if !errors.As(err, &te) || te.Signaled || !isExitError(err) || !strings.Contains(te.Stderr, "boom") {
		t.Errorf("exit 3: err = %#v", err)
	}
	err = runTool(ctx, "sh", []string{"-c", "kill -KILL $$"}, nil)
	if !errors.As(err, &te) || !te.Signaled {
		t.Errorf("killed: err = %#v, want Signaled", err)
	}
	err = runTool(ctx, filepath.Join(t.TempDir(), "no-such-tool"), nil, nil)
	if err == nil || isExitError(err) {
		t.Errorf("missing binary: err = %v, want a start error", err)
	}
}
