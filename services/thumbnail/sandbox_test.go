package thumbnail

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// The rendition is hostile input: ffmpeg must not reach the network, not
// even a listener on the worker's loopback.
func TestRunToolCannotReachTheNetwork(t *testing.T) {
	harness.AssertLoopbackUnreachable(t, func(ctx context.Context, url string) error {
		return procgroup.RunTool(ctx, "ffmpeg", []string{"-nostdin", "-v", "error", "-rw_timeout", "5000000",
			"-i", url, "-frames:v", "1", "-f", "null", "-"}, nil)
	})
}

// No credential of the worker reaches the tools: the "ffprobe" here is a
// script that prints its environment.
func TestRunToolEnvironmentHasNoCredentials(t *testing.T) {
	t.Setenv("VIDPIPE_S3_SECRET_KEY", "s3cr3t")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	script := filepath.Join(t.TempDir(), "ffprobe")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := procgroup.RunTool(context.Background(), script, nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(kv, "VIDPIPE_") || strings.HasPrefix(kv, "AWS_") || strings.Contains(kv, "s3cr3t") {
			t.Errorf("tool environment has %q", kv)
		}
	}
	if !strings.Contains(out.String(), "PATH=") {
		t.Errorf("tool environment has no PATH:\n%s", out.String())
	}
}
