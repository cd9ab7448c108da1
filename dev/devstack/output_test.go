package devstack

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

func TestOutputWriterPrefixesWholeLines(t *testing.T) {
	tests := map[string]struct {
		writes []string
		want   string
	}{
		"one line":            {[]string{"hello\n"}, "[svc-1] hello\n"},
		"split across writes": {[]string{"hel", "lo\nwor", "ld\n"}, "[svc-1] hello\n[svc-1] world\n"},
		"partial flushed":     {[]string{"no newline"}, "[svc-1] no newline\n"},
		"crlf":                {[]string{"dos\r\n"}, "[svc-1] dos\n"},
		"empty line":          {[]string{"\n"}, "[svc-1] \n"},
		"nothing":             {nil, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewOutput(&buf, false).Writer("svc-1")
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			w.Close()
			if buf.String() != tc.want {
				t.Errorf("output %q, want %q", buf.String(), tc.want)
			}
		})
	}
}

func TestOutputColors(t *testing.T) {
	var buf bytes.Buffer
	o := NewOutput(&buf, true)
	o.Line("a-1", "x")
	o.Line("b-1", "y")
	o.Line("a-1", "z")
	want := "\x1b[36m[a-1]\x1b[0m x\n\x1b[33m[b-1]\x1b[0m y\n\x1b[36m[a-1]\x1b[0m z\n"
	if buf.String() != want {
		t.Errorf("output %q, want %q", buf.String(), want)
	}
}

func TestOutputLineSplitsText(t *testing.T) {
	var buf bytes.Buffer
	NewOutput(&buf, false).Line("postgres", "first\nsecond\n")
	if want := "[postgres] first\n[postgres] second\n"; buf.String() != want {
		t.Errorf("output %q, want %q", buf.String(), want)
	}
}

func TestOutputLinesNeverInterleave(t *testing.T) {
	var buf syncBuffer
	o := NewOutput(&buf, false)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := o.Writer(fmt.Sprintf("w-%d", i))
			defer w.Close()
			for j := range 200 {
				// Bytes one at a time: the worst case for interleaving.
				for _, c := range []byte(fmt.Sprintf("line %d of w-%d\n", j, i)) {
					w.Write([]byte{c})
				}
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	for _, l := range lines {
		var i, j, k int
		if _, err := fmt.Sscanf(l, "[w-%d] line %d of w-%d", &i, &j, &k); err != nil || i != k {
			t.Fatalf("mangled line %q", l)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	f, err := osCreateTemp(t)
	if err != nil {
		t.Fatal(err)
	}
	if IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
}

func osCreateTemp(t *testing.T) (*os.File, error) {
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err == nil {
		t.Cleanup(func() { f.Close() })
	}
	return f, err
}
