package devstack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindRepoRoot(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "dev", "cmd", "vidpipe-dev")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	tests := map[string]struct {
		from, want, wantErr string
	}{
		"at the root":   {root, root, ""},
		"from below":    {sub, root, ""},
		"no workspace":  {outside, "", "no go.work in " + outside},
		"relative path": {".", "", ""}, // this package is inside the vidpipe workspace
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := FindRepoRoot(tc.from)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("FindRepoRoot(%s) = %q, %v; want an error containing %q", tc.from, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if _, err := os.Stat(filepath.Join(got, "go.work")); err != nil {
					t.Errorf("FindRepoRoot(%s) = %s, which has no go.work", tc.from, got)
				}
				return
			}
			if got != tc.want {
				t.Errorf("FindRepoRoot(%s) = %s, want %s", tc.from, got, tc.want)
			}
		})
	}
}

func TestPackagePath(t *testing.T) {
	if got := PackagePath(Transcode); got != "./services/transcode/cmd/transcode" {
		t.Errorf("PackagePath(transcode) = %q", got)
	}
}
