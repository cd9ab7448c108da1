// Package workdir sweeps the per-attempt work directories that workers
// leave behind when they are killed mid-attempt (kill -9, OOM, node loss):
// a graceful attempt removes its own directory, a killed one cannot.
package workdir

import (
	"errors"
	"fmt"
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
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}
