package workdir

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSweep(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	mk := func(name string, mtime time.Time, isDir bool) {
		p := filepath.Join(dir, name)
		var err error
		if isDir {
			err = os.MkdirAll(filepath.Join(p, "sub"), 0o755)
		} else {
			err = os.WriteFile(p, []byte("x"), 0o644)
		}
		if err == nil {
			err = os.Chtimes(p, mtime, mtime)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mk("vidpipe-thumbnail-111", old, true)        // stale: removed
	mk("vidpipe-thumbnail-222", time.Now(), true) // live attempt: kept
	mk("vidpipe-thumbnail-333", old, false)       // a file, not ours: kept
	mk("other-tool-444", old, true)               // someone else's: kept

	n, err := Sweep(dir, "vidpipe-thumbnail-", time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1, nil", n, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"other-tool-444", "vidpipe-thumbnail-222", "vidpipe-thumbnail-333"}
	if !slices.Equal(names, want) {
		t.Errorf("left %q, want %q", names, want)
	}
}

func TestSweepRefusesEmptyPrefix(t *testing.T) {
	if _, err := Sweep(t.TempDir(), "", time.Hour); err == nil {
		t.Fatal("an empty prefix would sweep every directory")
	}
}
