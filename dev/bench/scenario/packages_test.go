package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchmarkPackagesExist: the packages whose Go benchmarks the
// scenarios compile are where the scenarios look for them (a layout change
// once left the transcode and sandbox scenarios building directories that
// no longer existed).
func TestBenchmarkPackagesExist(t *testing.T) {
	root := filepath.Join("..", "..", "..") // dev/bench/scenario → the repository root
	for dir, bench := range map[string]string{transcodePackageDir: "BenchmarkTranscode", sandboxPackageDir: "BenchmarkSandbox"} {
		matches, err := filepath.Glob(filepath.Join(root, dir, "*_test.go"))
		if err != nil || len(matches) == 0 {
			t.Errorf("%s: no test files in %s: %v", bench, filepath.Join(root, dir), err)
			continue
		}
		found := false
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "func "+bench+"(") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s is not in %s", bench, dir)
		}
	}
}
