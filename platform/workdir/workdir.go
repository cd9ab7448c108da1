// Package workdir sweeps what workers leave behind in a temp directory
// when they are killed mid-attempt (kill -9, OOM, node loss) or when a
// library does not clean up after itself: the per-attempt work directories
// of the transcode and thumbnail stages (Sweep) and the part buffer files
// of upload-api's tus store (SweepFiles). A graceful attempt removes its
// own entries; a killed one cannot.
//
// Both sweeps are age-based only: an entry is removed when its name has the
// given prefix and it was last modified longer ago than any live owner can
// leave it untouched, so several processes may share the directory.
package workdir

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Sweep removes the directories under dir (the OS temp dir when empty)
// whose name starts with prefix and that were last modified more than
// olderThan ago, and returns how many it removed. Pass the stage's attempt
// timeout plus its shutdown grace: no live attempt is older than that, so
// the directories of other workers sharing dir are safe. Files, and
// directories of other prefixes, are left alone.
func Sweep(dir, prefix string, olderThan time.Duration) (int, error) {
	return sweep(dir, prefix, olderThan, true)
}

// SweepFiles removes the regular files under dir (the OS temp dir when
// empty) whose name starts with prefix and that were last modified more
// than olderThan ago, and returns how many it removed. Pass the longest
// time a live owner can leave its file unmodified. Directories, symbolic
// links and files of other prefixes are left alone; subdirectories are
// not searched.
func SweepFiles(dir, prefix string, olderThan time.Duration) (int, error) {
	return sweep(dir, prefix, olderThan, false)
}

// sweep removes dir's entries named prefix* older than olderThan: the
// directories (recursively) when dirs, else the regular files.
func sweep(dir, prefix string, olderThan time.Duration, dirs bool) (int, error) {
	if prefix == "" {
		return 0, errors.New("workdir: empty prefix")
	}
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("sweep %s: %w", dir, err)
	}
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if dirs && !e.IsDir() || !dirs && !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if dirs {
			err = os.RemoveAll(p)
		} else {
			err = os.Remove(p)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // another process swept it first
			errs = append(errs, err)
			continue
		}
		if err == nil {
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

// Prepare readies a worker's work directory at start-up: it creates dir
// (mode 0700; nothing when dir is empty, the OS temp dir) and sweeps the
// work directories named prefix* that killed workers left there (Sweep,
// with olderThan = the stage's attempt timeout plus its shutdown grace).
// A failed sweep is logged, not returned: it must not keep a worker from
// starting.
func Prepare(log *slog.Logger, dir, prefix string, olderThan time.Duration) error {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("work dir %s: %w", dir, err)
		}
	}
	if n, err := Sweep(dir, prefix, olderThan); err != nil {
		log.Warn("sweeping stale work dirs", "dir", dir, "err", err)
	} else if n > 0 {
		log.Info("removed stale work dirs", "dir", dir, "count", n)
	}
	return nil
}
