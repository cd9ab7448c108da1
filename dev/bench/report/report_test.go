package report

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/bench/stats"
)

func sample() *Report {
	return &Report{
		Command:  "make bench",
		Machine:  Machine{Cores: 2, MemTotalKiB: 24 << 20, GoVersion: "go version go1.26.8 linux/amd64", CPU: "AMD EPYC"},
		Started:  time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC),
		Duration: 9 * time.Minute,
		Notes:    []string{"Numbers are noisy."},
		Sections: []*Section{
			{
				Title: "1. Runtime",
				Checks: []Check{
					{Name: "ratio", Value: 0.91, Detail: "900 vs 990 ev/s", Target: stats.Target{Dir: stats.AtLeast, Value: 0.8, Unit: "×"}},
					{Name: "missing", Value: math.NaN(), Target: stats.Target{Dir: stats.AtMost, Value: 1}},
					{Name: "threshold", Value: 8, Format: "%.0f s", Detail: "measured", Info: true},
				},
				Tables: []Table{{Caption: "per run", Header: []string{"impl", "ev/s"}, Rows: [][]string{{"runtime", "900"}, {"a|b", "1"}}}},
			},
			{Title: "2. Upload", Err: errors.New("upload-api\nexited")},
		},
	}
}

func TestMarkdown(t *testing.T) {
	var b strings.Builder
	if err := sample().Markdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	tests := map[string]string{
		"command":            "`make bench`",
		"date":               "2026-11-26 02:00 UTC",
		"cores and memory":   "2 cores (`nproc`), 24.0 GiB RAM",
		"go version":         "go1.26.8",
		"pass row":           "| 1. Runtime | ratio | 0.91 | 900 vs 990 ev/s | ≥ 0.8× | PASS |",
		"NaN is a miss":      "| 1. Runtime | missing | n/a |  | ≤ 1 | MISS |",
		"info has no target": "| 1. Runtime | threshold | 8 s | measured | — | INFO |",
		"failed scenario":    "| 2. Upload | — | — | failed: upload-api exited | — | ERROR |",
		"pipe escaped":       `| a\|b | 1 |`,
		"caption":            "**per run**",
		"failure paragraph":  "**The scenario failed:** `upload-api exited`",
		"note":               "Numbers are noisy.",
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(md, want) {
				t.Errorf("markdown lacks %q:\n%s", want, md)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	var b strings.Builder
	if err := sample().Summary(&b); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{"PASS ratio", "MISS missing", "INFO threshold", "target —", "ERROR: upload-api exited", "total 9m0s"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

func TestMemTotalKiB(t *testing.T) {
	tests := map[string]struct {
		in   string
		want int64
	}{
		"present": {"MemFree:  100 kB\nMemTotal:       24684012 kB\n", 24684012},
		"absent":  {"MemFree: 100 kB\n", 0},
		"empty":   {"", 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := MemTotalKiB([]byte(tc.in)); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}
