package ffmpeg

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
)

// The transcode input is hostile: ffmpeg must not reach anything on the
// network, not even a listener on the worker's loopback.
func TestRunCannotReachTheNetwork(t *testing.T) {
	harness.AssertLoopbackUnreachable(t, func(ctx context.Context, url string) error {
		return Runner{Path: harness.MustTool(t, "ffmpeg")}.Run(ctx, t.TempDir(), []string{
			"-nostdin", "-v", "error", "-rw_timeout", "5000000", "-i", url, "-f", "null", "-"}, 0)
	})
}

// Nothing of the worker's environment (S3 keys, configuration) reaches the
// child: the "ffmpeg" here is a script that dumps its environment.
func TestRunChildEnvironmentHasNoCredentials(t *testing.T) {
	t.Setenv("VIDPIPE_S3_SECRET_KEY", "s3cr3t")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	dir := t.TempDir()
	script := filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > env.txt\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := (Runner{Path: script}).Run(context.Background(), dir, nil, 0); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(dir, "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		if strings.HasPrefix(kv, "VIDPIPE_") || strings.HasPrefix(kv, "AWS_") || strings.Contains(kv, "s3cr3t") {
			t.Errorf("ffmpeg's environment has %q", kv)
		}
	}
	if !strings.Contains(string(env), "PATH=") {
		t.Errorf("ffmpeg's environment has no PATH:\n%s", env)
	}
}

// A sandbox failure is the worker's, not the input's: never ErrRejected.
func TestRunSandboxExecFailureIsNotRejection(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(notExec, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Runner{Path: notExec}.Run(context.Background(), dir, []string{"-version"}, 0)
	if err == nil || errors.Is(err, ErrRejected) {
		t.Fatalf("error = %v, want a non-rejection error", err)
	}
}
