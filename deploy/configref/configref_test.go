package configref

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/platform/config"
)

// TestReferenceIsCurrent fails when docs/configuration.md differs from what
// the service binaries describe.
func TestReferenceIsCurrent(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", Path))
	if err != nil {
		t.Fatalf("%s: %v (run make docs)", Path, err)
	}
	bins, err := Build(t.Context(), filepath.Join("..", ".."), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	refs, err := References(t.Context(), bins)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != Markdown(refs) {
		t.Fatalf("%s is stale: run make docs", Path)
	}
	for _, want := range []string{"`stage.max_attempts`", "`VIDPIPE_API_TOKENS`", "`transcode.ladder`", "`1h`", "\n## indexer\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("reference lacks %s", want)
		}
	}
}

// A section per description: defaults in code spans (— for none), secrets
// marked, pipes in descriptions escaped.
func TestMarkdown(t *testing.T) {
	t.Parallel()
	md := Markdown([]config.Reference{{Service: "captions", Keys: []config.Key{
		{Name: "captions.lang", Env: "VIDPIPE_CAPTIONS_LANG", Default: "en", Description: "language: en | fr"},
		{Name: "captions.key", Env: "VIDPIPE_CAPTIONS_KEY", Description: "API key", Secret: true},
	}}})
	for _, want := range []string{
		"\n## captions\n\n| key | environment | default | meaning |\n|---|---|---|---|\n",
		"| `captions.lang` | `VIDPIPE_CAPTIONS_LANG` | `en` | language: en \\| fr |\n",
		"| `captions.key` | `VIDPIPE_CAPTIONS_KEY` | — | API key 🔒 |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}
