package captions

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vidpipe/vidpipe/contract"
)

// MaxBytes bounds an uploaded caption file: 512 KiB, several times the
// subtitles of a feature film (about 100 KiB), and inside the API's
// default body limit (api.max_body_bytes, 1 MiB) with multipart framing.
const MaxBytes = 512 << 10

// MaxCues bounds the cues of one track: contract.MaxCaptionCues (20 000).
const MaxCues = contract.MaxCaptionCues

// Format is the syntax of an uploaded caption file.
type Format string

// The formats Parse reads.
const (
	FormatWebVTT Format = "webvtt"
	FormatSRT    Format = "srt"
)

// Cue is one caption: shown from Start to End.
type Cue struct {
	// ID is the cue identifier ("" when none).
	ID    string
	Start time.Duration
	End   time.Duration
	// Settings are the WebVTT cue settings after the timing ("" for SRT).
	Settings string
	// Text is the payload, lines joined by "\n", as written (WebVTT
	// markup kept).
	Text string
}

// PlainText is the cue's text without markup (tags removed, entities
// decoded), lines joined by spaces: what search indexes.
func (c Cue) PlainText() string {
	s := tagRE.ReplaceAllString(c.Text, "")
	s = html.UnescapeString(s)
	return strings.Join(strings.Fields(s), " ")
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

// Track is a parsed caption file.
type Track struct {
	Format Format
	Cues   []Cue
}

// End is the end of the last-ending cue (0 without cues).
func (t Track) End() time.Duration {
	var end time.Duration
	for _, c := range t.Cues {
		end = max(end, c.End)
	}
	return end
}

// ParseError is a problem with an uploaded caption file; Error is meant
// for the uploader.
type ParseError struct {
	Line int // 1-based; 0 for the whole file
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

func errAt(line int, format string, args ...any) error {
	return &ParseError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads a WebVTT (starting with "WEBVTT") or SRT caption file. It
// fails on a file over MaxBytes, not UTF-8, without cues or with more
// than MaxCues, with a malformed timestamp, a cue whose end is not after
// its start, or a cue that starts before the one before it. With
// duration > 0 (the video's, when known) a cue that ends after duration
// (plus a second of tolerance for rounding) is refused too.
func Parse(data []byte, duration time.Duration) (Track, error) {
	if len(data) > MaxBytes {
		return Track{}, &ParseError{Msg: fmt.Sprintf("the caption file is larger than %d bytes", MaxBytes)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return Track{}, &ParseError{Msg: "the caption file is not UTF-8 text"}
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return Track{}, &ParseError{Msg: "the caption file contains a NUL byte"}
	}
	text := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(text, "\n")
	var t Track
	var err error
	if first := lines[0]; first == "WEBVTT" || strings.HasPrefix(first, "WEBVTT ") || strings.HasPrefix(first, "WEBVTT\t") {
		t, err = parseVTT(lines)
	} else {
		t, err = parseSRT(lines)
	}
	if err != nil {
		return Track{}, err
	}
	if len(t.Cues) == 0 {
		return Track{}, &ParseError{Msg: "the caption file has no cues"}
	}
	if len(t.Cues) > MaxCues {
		return Track{}, &ParseError{Msg: fmt.Sprintf("the caption file has more than %d cues", MaxCues)}
	}
	if duration > 0 {
		limit := duration + time.Second
		for _, c := range t.Cues {
			if c.End > limit {
				return Track{}, &ParseError{Msg: fmt.Sprintf("cue %s --> %s ends after the video (%s long)",
					formatTS(c.Start), formatTS(c.End), formatTS(duration))}
			}
		}
	}
	return t, nil
}

// block is a run of non-blank lines; first is the 1-based number of its first line.
type block struct {
	first int
	lines []string
}

func blocks(lines []string) []block {
	var out []block
	var cur *block
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			cur = nil
			continue
		}
		if cur == nil {
			out = append(out, block{first: i + 1})
			cur = &out[len(out)-1]
		}
		cur.lines = append(cur.lines, l)
	}
	return out
}

func parseVTT(lines []string) (Track, error) {
	t := Track{Format: FormatWebVTT}
	bs := blocks(lines)
	if len(bs) == 0 {
		return t, nil
	}
	// The first block is the header ("WEBVTT" and header lines).
	for _, b := range bs[1:] {
		head := b.lines[0]
		if strings.HasPrefix(head, "NOTE") && (len(head) == 4 || head[4] == ' ' || head[4] == '\t') ||
			head == "STYLE" || head == "REGION" || strings.HasPrefix(head, "STYLE ") || strings.HasPrefix(head, "REGION ") {
			if len(t.Cues) > 0 && !strings.HasPrefix(head, "NOTE") {
				return t, errAt(b.first, "a %s block must come before the first cue", strings.Fields(head)[0])
			}
			continue
		}
		var c Cue
		timing, ln := 0, b.first
		if !strings.Contains(head, "-->") {
			c.ID = head
			timing, ln = 1, b.first+1
			if len(b.lines) < 2 {
				return t, errAt(b.first, "cue %q has no timing line", truncate(head, 40))
			}
		}
		start, end, settings, err := parseTiming(b.lines[timing], '.', ln)
		if err != nil {
			return t, err
		}
		c.Start, c.End, c.Settings = start, end, settings
		c.Text = strings.Join(b.lines[timing+1:], "\n")
		if strings.Contains(c.Text, "-->") {
			return t, errAt(ln+1, "cue text must not contain \"-->\" (a missing blank line between cues?)")
		}
		if err := addCue(&t, c, ln); err != nil {
			return t, err
		}
	}
	return t, nil
}

func parseSRT(lines []string) (Track, error) {
	t := Track{Format: FormatSRT}
	for _, b := range blocks(lines) {
		timing, ln := 0, b.first
		if !strings.Contains(b.lines[0], "-->") {
			if _, err := strconv.Atoi(strings.TrimSpace(b.lines[0])); err != nil || len(b.lines) < 2 {
				if len(t.Cues) == 0 {
					return t, errAt(b.first, "neither WebVTT (the file must start with WEBVTT) nor SubRip (a cue number, then a timing line)")
				}
				return t, errAt(b.first, "expected a cue number and a timing line")
			}
			timing, ln = 1, b.first+1
		}
		start, end, settings, err := parseTiming(b.lines[timing], ',', ln)
		if err != nil {
			return t, err
		}
		_ = settings // SRT position hints (X1:…) are not carried over
		text := strings.Join(b.lines[timing+1:], "\n")
		// "-->" may not appear in a WebVTT cue's text.
		text = strings.ReplaceAll(text, "-->", "--&gt;")
		if err := addCue(&t, Cue{Start: start, End: end, Text: text}, ln); err != nil {
			return t, err
		}
	}
	return t, nil
}

func addCue(t *Track, c Cue, line int) error {
	if c.End <= c.Start {
		return errAt(line, "the cue ends (%s) at or before it starts (%s)", formatTS(c.End), formatTS(c.Start))
	}
	if n := len(t.Cues); n > 0 && c.Start < t.Cues[n-1].Start {
		return errAt(line, "the cue starts (%s) before the previous cue (%s): cues must be in order", formatTS(c.Start), formatTS(t.Cues[n-1].Start))
	}
	t.Cues = append(t.Cues, c)
	if len(t.Cues) > MaxCues {
		return &ParseError{Msg: fmt.Sprintf("the caption file has more than %d cues", MaxCues)}
	}
	return nil
}

// parseTiming reads "start --> end [settings]"; sep is the decimal
// separator of the format ('.' WebVTT, ',' SRT; SRT files written with '.'
// are accepted too).
func parseTiming(line string, sep byte, ln int) (start, end time.Duration, settings string, err error) {
	a, b, ok := strings.Cut(line, "-->")
	if !ok {
		return 0, 0, "", errAt(ln, "expected a timing line \"00:00:01.000 --> 00:00:02.000\", got %q", truncate(line, 60))
	}
	a = strings.TrimSpace(a)
	b = strings.TrimLeft(b, " \t")
	endTS, rest, _ := strings.Cut(b, " ")
	if i := strings.IndexByte(endTS, '\t'); i >= 0 {
		endTS, rest = endTS[:i], endTS[i+1:]+" "+rest
	}
	if start, err = parseTS(a, sep); err != nil {
		return 0, 0, "", errAt(ln, "start %s", err)
	}
	if end, err = parseTS(endTS, sep); err != nil {
		return 0, 0, "", errAt(ln, "end %s", err)
	}
	return start, end, strings.Join(strings.Fields(rest), " "), nil
}

var tsRE = regexp.MustCompile(`^(?:(\d{2,}):)?([0-5]\d):([0-5]\d)[.,](\d{3})$`)

// parseTS reads [hh:]mm:ss.ttt (hours at least two digits).
func parseTS(s string, sep byte) (time.Duration, error) {
	m := tsRE.FindStringSubmatch(s)
	if m == nil || (sep == '.' && strings.Contains(s, ",")) {
		want := "hh:mm:ss.ttt"
		if sep == ',' {
			want = "hh:mm:ss,ttt"
		}
		return 0, fmt.Errorf("timestamp %q is malformed (want %s)", truncate(s, 30), want)
	}
	h := 0
	if m[1] != "" {
		var err error
		if h, err = strconv.Atoi(m[1]); err != nil || h > 99_999 {
			return 0, fmt.Errorf("timestamp %q is out of range", truncate(s, 30))
		}
	}
	mi, _ := strconv.Atoi(m[2])
	se, _ := strconv.Atoi(m[3])
	ms, _ := strconv.Atoi(m[4])
	return time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(se)*time.Second + time.Duration(ms)*time.Millisecond, nil
}

// formatTS writes d as a WebVTT timestamp hh:mm:ss.ttt.
func formatTS(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3_600_000, ms/60_000%60, ms/1000%60, ms%1000)
}

// WebVTT writes the track as a WebVTT document.
func (t Track) WebVTT() []byte {
	var b bytes.Buffer
	b.WriteString("WEBVTT\n")
	for _, c := range t.Cues {
		b.WriteByte('\n')
		if c.ID != "" {
			b.WriteString(c.ID)
			b.WriteByte('\n')
		}
		b.WriteString(formatTS(c.Start))
		b.WriteString(" --> ")
		b.WriteString(formatTS(c.End))
		if c.Settings != "" {
			b.WriteByte(' ')
			b.WriteString(c.Settings)
		}
		b.WriteByte('\n')
		if c.Text != "" {
			b.WriteString(c.Text)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
