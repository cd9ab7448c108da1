package workdir

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

func TestSweepFiles(t *testing.T) {
	const prefix = "tusd-s3-tmp-"
	old := time.Now().Add(-2 * time.Hour)
	tests := map[string]struct {
		name    string
		mtime   time.Time
		kind    string // "file" or "dir"
		removed bool
	}{
		"stale file with the prefix":      {name: prefix + "111", mtime: old, kind: "file", removed: true},
		"fresh file with the prefix":      {name: prefix + "222", mtime: time.Now(), kind: "file"},
		"modified just inside the limit":  {name: prefix + "333", mtime: time.Now().Add(-59 * time.Minute), kind: "file"},
		"stale file of another prefix":    {name: "other-tool-444", mtime: old, kind: "file"},
		"stale directory with the prefix": {name: prefix + "555", mtime: old, kind: "dir"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, tc.name)
			var err error
			switch tc.kind {
			case "file":
				err = os.WriteFile(p, []byte("x"), 0o600)
			case "dir":
				err = os.Mkdir(p, 0o755)
			}
			if err == nil {
				err = os.Chtimes(p, tc.mtime, tc.mtime)
			}
			if err != nil {
				t.Fatal(err)
			}

			n, err := SweepFiles(dir, prefix, time.Hour)
			if err != nil {
				t.Fatalf("SweepFiles: %v", err)
			}
			_, statErr := os.Lstat(p)
			gone := os.IsNotExist(statErr)
			if gone != tc.removed || (n == 1) != tc.removed {
				t.Errorf("SweepFiles = %d, entry gone = %v; want removed = %v", n, gone, tc.removed)
			}
		})
	}
}

func TestSweepFilesMissingDir(t *testing.T) {
	if _, err := SweepFiles(filepath.Join(t.TempDir(), "missing"), "tusd-s3-tmp-", time.Hour); err == nil {
		t.Fatal("a missing directory must be reported")
	}
}

func TestSweepFilesRefusesEmptyPrefix(t *testing.T) {
	if _, err := SweepFiles(t.TempDir(), "", time.Hour); err == nil {
		t.Fatal("an empty prefix would sweep every file")
	}
}

func TestPrepareCreatesTheDirAndSweepsStaleWorkDirs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "work")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if err := Prepare(log, dir, "vidpipe-x-", time.Hour); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("Prepare did not create %s with mode 0700: %v %v", dir, fi, err)
	}
	stale := filepath.Join(dir, "vidpipe-x-old")
	fresh := filepath.Join(dir, "vidpipe-x-new")
	for _, d := range []string{stale, fresh} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := Prepare(log, dir, "vidpipe-x-", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale work dir survived: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh work dir removed: %v", err)
	}
	if !strings.Contains(logs.String(), "removed stale work dirs") {
		t.Errorf("no log line for the sweep: %s", logs.String())
	}
}
