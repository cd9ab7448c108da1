package procgroup

import (
	"strings"
	"sync"
)

// Tail is an io.Writer that keeps only the last Max bytes written to it
// (for a child's stderr: bounded memory, the end is where the error is).
// It is safe for concurrent use.
type Tail struct {
	// Max is the number of bytes kept. Default (0): 8 KiB.
	Max int

	mu  sync.Mutex
	buf []byte
	cut bool
}

// Write keeps the last Max bytes of p appended to what was kept; it never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	max := t.Max
	if max <= 0 {
		max = 8 << 10
	}
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

// String returns the kept text, trimmed, prefixed with "…" if bytes were dropped.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if t.cut {
		s = "…" + s
	}
	return s
}

// LastLines returns the last n non-empty lines of the kept text joined with
// "; " — a compact form for error messages.
func (t *Tail) LastLines(n int) string {
	t.mu.Lock()
	text := string(t.buf)
	t.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
