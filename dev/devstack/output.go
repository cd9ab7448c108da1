package devstack

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Output writes whole lines, each prefixed with the name of its source in
// brackets ("[transcode-1] ..."), to one writer. Lines of different
// sources never interleave within a line. With color, each name gets its
// own ANSI color. It is safe for concurrent use.
type Output struct {
	mu     sync.Mutex
	w      io.Writer
	color  bool
	colors map[string]string
}

// palette are the ANSI colors given to names, in order of first use.
var palette = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

// NewOutput returns an Output writing to w, with colors if color is set.
func NewOutput(w io.Writer, color bool) *Output {
	return &Output{w: w, color: color, colors: map[string]string{}}
}

// IsTerminal reports whether w is a character device (a terminal), the
// condition for colored output.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// prefix returns "[name] ", colored if o has colors. o.mu must be held.
func (o *Output) prefix(name string) string {
	if !o.color {
		return "[" + name + "] "
	}
	c, ok := o.colors[name]
	if !ok {
		c = palette[len(o.colors)%len(palette)]
		o.colors[name] = c
	}
	return "\x1b[" + c + "m[" + name + "]\x1b[0m "
}

// Line writes each line of text (split at newlines; a trailing newline
// ends the last line) prefixed with name.
func (o *Output) Line(name, text string) {
	text = strings.TrimSuffix(text, "\n")
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		b.WriteString(o.prefix(name))
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(o.w, b.String())
}

// Printf formats a message and writes it as Line does.
func (o *Output) Printf(name, format string, args ...any) {
	o.Line(name, fmt.Sprintf(format, args...))
}

// Plain writes text without a prefix, e.g. commands meant to be copied.
func (o *Output) Plain(text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = io.WriteString(o.w, text)
}

// Writer returns a writer whose complete lines go out prefixed with name.
// A partial line is held until its newline arrives or Close is called.
// Each source (a child's stdout, its stderr) needs its own Writer.
func (o *Output) Writer(name string) io.WriteCloser {
	return &lineWriter{out: o, name: name}
}

// maxLine bounds a held partial line; a longer one goes out in pieces.
const maxLine = 64 << 10

type lineWriter struct {
	out  *Output
	name string
	mu   sync.Mutex
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) >= maxLine {
				w.out.Line(w.name, string(w.buf))
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.out.Line(w.name, string(bytes.TrimSuffix(w.buf[:i], []byte("\r"))))
		w.buf = w.buf[i+1:]
	}
}

// Close writes a held partial line.
func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.out.Line(w.name, string(w.buf))
		w.buf = nil
	}
	return nil
}
