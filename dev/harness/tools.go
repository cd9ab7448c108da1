package harness

import (
	"os/exec"
	"testing"

	"github.com/vidpipe/vidpipe/dev/servers"
)

// installHint tells a developer how to get a missing tool.
const installHint = servers.InstallHint

// MustTool returns the path of the executable name found in PATH, or fails
// the test naming the tool and how to install it. Tests never skip for a
// missing tool.
func MustTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("harness: tool %q not found in PATH (%v): %s", name, err, installHint)
	}
	return path
}
