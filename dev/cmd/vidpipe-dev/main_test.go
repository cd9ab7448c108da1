package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDevCmdRejectsBadArguments(t *testing.T) {
	tests := map[string]struct {
		args    []string
		wantErr string
	}{
		"unknown service": {[]string{"--scale", "ffmpeg=2"}, `unknown service "ffmpeg"`},
		"bad count":       {[]string{"--scale", "transcode=x"}, "copies must be a number"},
		"positional":      {[]string{"now"}, "unexpected argument now"},
		"unknown flag":    {[]string{"--kafka", "1"}, "unknown flag: --kafka"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, func(string) string { return "" }, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tc.args, err, tc.wantErr)
			}
		})
	}
}

func TestDevCmdHelpListsFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatalf("dev --help = %v, want nil", err)
	}
	for _, flag := range []string{"--dir", "--kafka-port", "--s3-port", "--pg-port", "--api-port", "--scale", "--partitions"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("help lacks %s:\n%s", flag, stderr.String())
		}
	}
}
