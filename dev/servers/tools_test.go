package servers

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

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
	path, err := MinIOBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !isExecutable(path) {
		t.Fatalf("MinIOBinary() = %q, not an executable", path)
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
	path, err := MinIOBinary()
	if err != nil {
		t.Fatal(err)
	}
	if path != fake {
		t.Errorf("MinIOBinary() = %q, want %q from GOBIN", path, fake)
	}
}

func TestFindPostgres(t *testing.T) {
	b, err := FindPostgres()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{b.InitDB, b.Postgres} {
		if !isExecutable(p) {
			t.Errorf("%q is not an executable", p)
		}
	}
}
