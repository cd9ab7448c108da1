package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMustToolFound(t *testing.T) {
	path := MustTool(t, "sh")
	st, err := os.Stat(path)
	if !filepath.IsAbs(path) || err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("MustTool(sh) = %q, want an absolute path to an executable", path)
	}
}

func TestMustToolMissingFailsWithHint(t *testing.T) {
	f := &fakeTB{}
	runFake(f, func(tb testing.TB) { MustTool(tb, "vidpipe-no-such-tool") })
	if len(f.fatals) != 1 {
		t.Fatalf("got %d fatal errors, want 1", len(f.fatals))
	}
	msg := f.fatals[0]
	for _, want := range []string{`"vidpipe-no-such-tool"`, "run `make deps` (installs ffmpeg, kcat, minio)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("fatal %q does not contain %q", msg, want)
		}
	}
}
