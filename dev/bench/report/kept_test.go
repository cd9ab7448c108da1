package report

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/bench/stats"
)

// A report re-run for one scenario keeps the others from the earlier
// file, each saying where it comes from, in number order; keeping a kept
// section again keeps its origin.
func TestKeptSections(t *testing.T) {
	var b strings.Builder
	old := sample()
	old.Sections = append(old.Sections, &Section{Title: "10. Crash", Intro: "Ten.", Elapsed: time.Second})
	if err := old.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	kept := ParseKept(b.String())
	var titles []string
	for _, k := range kept {
		titles = append(titles, k.Title)
	}
	if want := []string{"1. Runtime", "2. Upload", "10. Crash"}; !slices.Equal(titles, want) {
		t.Fatalf("kept titles %q, want %q", titles, want)
	}
	if k := kept[0]; len(k.Summary) != 3 || !strings.Contains(k.Body, "**per run**") || k.From != "2026-11-26 02:00 UTC (`make bench`)" {
		t.Fatalf("kept[0] = %+v", k)
	}

	re := &Report{Command: "vidpipe-bench -only 2 -merge", Started: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), Kept: kept,
		Sections: []*Section{{Title: "2. Upload", Checks: []Check{{Name: "fresh", Value: 1, Target: stats.Target{Value: 0.5}}}}}}
	b.Reset()
	if err := re.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for name, want := range map[string]string{
		"new row":       "| 2. Upload | fresh | 1.00 |",
		"kept row":      "| 1. Runtime | ratio | 0.91 | 900 vs 990 ev/s | ≥ 0.8× | PASS |",
		"kept note":     keptNote + "2026-11-26 02:00 UTC (`make bench`)._",
		"kept table":    "| runtime | 900 |",
		"summary notes": "the rows and sections of 1. Runtime, 10. Crash are kept",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("%s: markdown lacks %q:\n%s", name, want, md)
		}
	}
	if strings.Contains(md, "upload-api exited") {
		t.Errorf("the replaced section's old failure is still there:\n%s", md)
	}
	if i, j, k := strings.Index(md, "## 1. Runtime"), strings.Index(md, "## 2. Upload"), strings.Index(md, "## 10. Crash"); !(i < j && j < k) {
		t.Errorf("sections not in number order (%d, %d, %d)", i, j, k)
	}

	again := ParseKept(md)
	for _, k := range again {
		if k.Title == "1. Runtime" && (k.From != "2026-11-26 02:00 UTC (`make bench`)" || strings.Contains(k.Body, keptNote)) {
			t.Errorf("kept twice: %+v", k)
		}
		if k.Title == "2. Upload" && k.From != "2026-12-01 03:00 UTC (`vidpipe-bench -only 2 -merge`)" {
			t.Errorf("re-run section's origin %q", k.From)
		}
	}
}

func TestCompareTitles(t *testing.T) {
	titles := []string{"10. Crash", "2. Upload", "Zeta", "1. Runtime", "11. Spread"}
	slices.SortFunc(titles, CompareTitles)
	if want := []string{"1. Runtime", "2. Upload", "10. Crash", "11. Spread", "Zeta"}; !slices.Equal(titles, want) {
		t.Fatalf("got %q, want %q", titles, want)
	}
}
