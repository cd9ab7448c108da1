package tusupload

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSweepTemp(t *testing.T) {
	tests := map[string]struct {
		name     string
		age      time.Duration
		bodyIdle time.Duration
		removed  bool
	}{
		"abandoned part buffer":                  {name: TempPrefix + "1", age: 3 * time.Hour, bodyIdle: time.Minute, removed: true},
		"part buffer being written":              {name: TempPrefix + "2", age: 0, bodyIdle: time.Minute},
		"part buffer waiting for its upload":     {name: TempPrefix + "3", age: 50 * time.Minute, bodyIdle: time.Minute},
		"just past the default limit (1h1m)":     {name: TempPrefix + "4", age: time.Hour + 2*time.Minute, bodyIdle: time.Minute, removed: true},
		"stalled body under a long idle timeout": {name: TempPrefix + "5", age: 2*time.Hour + 30*time.Minute, bodyIdle: 2 * time.Hour},
		"abandoned under a long idle timeout":    {name: TempPrefix + "6", age: 3*time.Hour + 30*time.Minute, bodyIdle: 2 * time.Hour, removed: true},
		"old file of another program":            {name: "tusd-s3-concat-tmp-7", age: 3 * time.Hour, bodyIdle: time.Minute},
		"old file without the prefix":            {name: "upload-8", age: 3 * time.Hour, bodyIdle: time.Minute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, tc.name)
			mtime := time.Now().Add(-tc.age)
			if err := os.WriteFile(p, []byte("part"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			n, err := SweepTemp(dir, tc.bodyIdle)
			if err != nil {
				t.Fatalf("SweepTemp: %v", err)
			}
			_, statErr := os.Stat(p)
			gone := os.IsNotExist(statErr)
			if gone != tc.removed || (n == 1) != tc.removed {
				t.Errorf("SweepTemp = %d, file gone = %v; want removed = %v", n, gone, tc.removed)
			}
		})
	}
}
