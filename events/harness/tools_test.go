package harness

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMustToolFound(t *testing.T) {
	path := MustTool(t, "sh")
	if !filepath.IsAbs(path) || !isExecutable(path) {
		t.Fatalf("MustTool(sh) = %q, want an absolute path to an executable", path)
	}
}

func TestMustToolMissingFailsWithHint(t *testing.T) {
	f := &fakeTB{}
	runFake(f, func(tb testing.TB) { MustTool(tb, "vidpipe-no-such-tool") })
	if len(f.fatals) != 1 {
		t.Fatalf("got %d fatal errors, want 1", len(f.fatals))
	}
	msg := f.fatals[0]
	for _, want := range []string{`"vidpipe-no-such-tool"`, "run `make deps` (installs ffmpeg, kcat, minio)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("fatal %q does not contain %q", msg, want)
		}
	}
}

func TestNewestFirst(t *testing.T) {
	tests := map[string]struct {
		in, want []string
	}{
		"one":              {[]string{"15"}, []string{"15"}},
		"numeric order":    {[]string{"9.6", "15", "10", "16"}, []string{"16", "15", "10", "9.6"}},
		"minor versions":   {[]string{"16.1", "16.10", "16.2"}, []string{"16.10", "16.2", "16.1"}},
		"non-versions out": {[]string{"common", "15", ".keep"}, []string{"15"}},
		"none":             {nil, []string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := newestFirst(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("newestFirst(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMinIOBinaryFound(t *testing.T) {
	path, err := minioBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !isExecutable(path) {
		t.Fatalf("minioBinary() = %q, not an executable", path)
	}
}

func TestMinIOBinaryFromGOBIN(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "minio")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir()) // nothing in PATH
	t.Setenv("GOBIN", dir)
	path, err := minioBinary()
	if err != nil {
		t.Fatal(err)
	}
	if path != fake {
		t.Errorf("minioBinary() = %q, want %q from GOBIN", path, fake)
	}
}

func TestPostgresBinariesFound(t *testing.T) {
	b, err := postgresBinaries()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{b.initdb, b.postgres} {
		if !isExecutable(p) {
			t.Errorf("%q is not an executable", p)
		}
	}
}
