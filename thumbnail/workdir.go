package thumbnail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// workDirPattern names the per-attempt work directories (os.MkdirTemp
// replaces the "*").
const workDirPattern = "vidpipe-thumbnail-*"

// SweepStaleWorkDirs removes work directories under dir (the OS temp dir
// when empty) last modified more than olderThan ago: those left behind by
// a worker that was killed mid-attempt. An attempt never lasts longer
// than the stage's attempt timeout plus its shutdown grace, so a directory
// older than that belongs to no live attempt, even of another worker
// sharing dir. It returns how many it removed.
func SweepStaleWorkDirs(dir string, olderThan time.Duration) (int, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("sweep %s: %w", dir, err)
	}
	prefix := strings.TrimSuffix(workDirPattern, "*")
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
