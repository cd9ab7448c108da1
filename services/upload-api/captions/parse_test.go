package captions

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := map[string]struct {
		in       string
		duration time.Duration
		wantErr  string // substring; "" = ok
		wantVTT  string
		cues     int
	}{
		"webvtt": {
			in:      "WEBVTT - title\n\nNOTE a note\n\n1\n00:00:00.500 --> 00:00:01.000 align:start\n<v Bob>Hello</v>\n\n00:01.000 --> 00:02.000\nworld\n",
			wantVTT: "WEBVTT\n\n1\n00:00:00.500 --> 00:00:01.000 align:start\n<v Bob>Hello</v>\n\n00:00:01.000 --> 00:00:02.000\nworld\n",
			cues:    2,
		},
		"srt with BOM and CRLF": {
			in:      "\xef\xbb\xbf1\r\n00:00:00,000 --> 00:00:01,250\r\nHi -->there\r\n\r\n2\r\n00:00:01,250 --> 00:00:02,000\r\nsecond\r\nline\r\n",
			wantVTT: "WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nHi --&gt;there\n\n00:00:01.250 --> 00:00:02.000\nsecond\nline\n",
			cues:    2,
		},
		"not utf-8":          {in: "WEBVTT\n\n00:00.000 --> 00:01.000\n\xff\xfe\n", wantErr: "not UTF-8"},
		"too large":          {in: "WEBVTT\n\n" + strings.Repeat("x", MaxBytes), wantErr: "larger than"},
		"no cues":            {in: "WEBVTT\n\n", wantErr: "no cues"},
		"neither":            {in: "hello\nworld\n", wantErr: "neither WebVTT"},
		"bad timestamp":      {in: "WEBVTT\n\n00:00:0.500 --> 00:00:01.000\nx\n", wantErr: "line 3: start timestamp"},
		"srt comma in vtt":   {in: "WEBVTT\n\n00:00:00,500 --> 00:00:01.000\nx\n", wantErr: "malformed"},
		"minutes 60":         {in: "WEBVTT\n\n00:60:00.000 --> 01:00:01.000\nx\n", wantErr: "malformed"},
		"end before start":   {in: "WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nx\n", wantErr: "at or before it starts"},
		"end equals start":   {in: "1\n00:00:02,000 --> 00:00:02,000\nx\n", wantErr: "at or before it starts"},
		"out of order":       {in: "WEBVTT\n\n00:00:02.000 --> 00:00:03.000\na\n\n00:00:01.000 --> 00:00:04.000\nb\n", wantErr: "line 6: the cue starts"},
		"past duration":      {in: "WEBVTT\n\n00:00:01.000 --> 00:00:09.000\na\n", duration: 5 * time.Second, wantErr: "ends after the video"},
		"within tolerance":   {in: "WEBVTT\n\n00:00:01.000 --> 00:00:05.500\na\n", duration: 5 * time.Second, cues: 1, wantVTT: "WEBVTT\n\n00:00:01.000 --> 00:00:05.500\na\n"},
		"missing blank line": {in: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\n00:00:02.000 --> 00:00:03.000\nb\n", wantErr: "must not contain"},
		"style after cue":    {in: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\n\nSTYLE\n::cue {}\n", wantErr: "before the first cue"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tr, err := Parse([]byte(tc.in), tc.duration)
			if tc.wantErr != "" {
				var pe *ParseError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &pe) {
					t.Fatalf("err = %v, want a ParseError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.Cues) != tc.cues {
				t.Errorf("cues = %d, want %d", len(tr.Cues), tc.cues)
			}
			if got := string(tr.WebVTT()); got != tc.wantVTT {
				t.Errorf("WebVTT =\n%q\nwant\n%q", got, tc.wantVTT)
			}
			// The output parses to the same cues.
			again, err := Parse(tr.WebVTT(), 0)
			if err != nil || len(again.Cues) != len(tr.Cues) {
				t.Errorf("re-parse: %v, %d cues", err, len(again.Cues))
			}
		})
	}
}

func TestPlainText(t *testing.T) {
	c := Cue{Text: "<v Bob>Hello</v> &amp;\n<i>world</i>"}
	if got := c.PlainText(); got != "Hello & world" {
		t.Errorf("PlainText = %q", got)
	}
}

func TestLanguage(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"simple":      {"en", "en"},
		"region":      {"pt-br", "pt-BR"},
		"script":      {"ZH-hant-tw", "zh-Hant-TW"},
		"un region":   {"es-419", "es-419"},
		"variant":     {"de-CH-1901", "de-CH-1901"},
		"extlang":     {"zh-yue-HK", "zh-yue-HK"},
		"extension":   {"en-US-u-ca-gregory", "en-US-u-ca-gregory"},
		"private use": {"en-x-sdh", "en-x-sdh"},
		"empty":       {"", ""},
		"underscore":  {"en_US", ""},
		"one letter":  {"e", ""},
		"digits":      {"12", ""},
		"too long":    {"abcdefghi", ""},
		"dangling":    {"en-", ""},
		"trailing x":  {"en-x", ""},
		"ext no sub":  {"en-u", ""},
		"path":        {"../en", ""},
		"long tag":    {"en-" + strings.Repeat("abcde-", 6) + "x", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Language(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Language(%q) = %q, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Language(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
