package configref

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReferenceIsCurrent fails when docs/configuration.md differs from what
// the code generates.
func TestReferenceIsCurrent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", Path))
	if err != nil {
		t.Fatalf("%s: %v (run make docs)", Path, err)
	}
	md, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != md {
		t.Fatalf("%s is stale: run make docs", Path)
	}
	for _, want := range []string{"`stage.max_attempts`", "`VIDPIPE_API_TOKENS`", "`transcode.ladder`", "`1h`"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("reference lacks %s", want)
		}
	}
}
