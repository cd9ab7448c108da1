package stats

import (
	"math"
	"testing"
)

func TestPercentile(t *testing.T) {
	tests := map[string]struct {
		xs   []float64
		p    float64
		want float64
	}{
		"empty is NaN":          {nil, 50, math.NaN()},
		"single":                {[]float64{7}, 99, 7},
		"odd median":            {[]float64{3, 1, 2}, 50, 2},
		"even median averages":  {[]float64{4, 1, 3, 2}, 50, 2.5},
		"p0 is min":             {[]float64{5, 9, 1}, 0, 1},
		"p100 is max":           {[]float64{5, 9, 1}, 100, 9},
		"p99 interpolates":      {[]float64{0, 10}, 99, 9.9},
		"unsorted input sorted": {[]float64{10, 0, 5}, 50, 5},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Percentile(tc.xs, tc.p)
			if math.IsNaN(tc.want) {
				if !math.IsNaN(got) {
					t.Fatalf("got %v, want NaN", got)
				}
				return
			}
			if math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPercentileLeavesInputAlone(t *testing.T) {
	xs := []float64{3, 1, 2}
	Median(xs)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Fatalf("input reordered: %v", xs)
	}
}

func TestTarget(t *testing.T) {
	tests := map[string]struct {
		target  Target
		v       float64
		verdict string
		text    string
	}{
		"at least met":    {Target{AtLeast, 0.8, "×"}, 0.93, "PASS", "≥ 0.8×"},
		"at least missed": {Target{AtLeast, 0.8, "×"}, 0.79, "MISS", "≥ 0.8×"},
		"at least equal":  {Target{AtLeast, 0.85, "×"}, 0.85, "PASS", "≥ 0.85×"},
		"at most met":     {Target{AtMost, 1.1, "×"}, 1.02, "PASS", "≤ 1.1×"},
		"at most missed":  {Target{AtMost, 100, " MiB"}, 120, "MISS", "≤ 100 MiB"},
		"NaN never meets": {Target{AtMost, 1, ""}, math.NaN(), "MISS", "≤ 1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.target.Verdict(tc.v); got != tc.verdict {
				t.Errorf("Verdict(%v) = %s, want %s", tc.v, got, tc.verdict)
			}
			if got := tc.target.String(); got != tc.text {
				t.Errorf("String() = %q, want %q", got, tc.text)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	tests := map[string]struct {
		a, b float64
		nan  bool
		want float64
	}{
		"plain":         {a: 3, b: 4, want: 0.75},
		"zero baseline": {a: 3, b: 0, nan: true},
		"NaN value":     {a: math.NaN(), b: 1, nan: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Ratio(tc.a, tc.b)
			if tc.nan != math.IsNaN(got) || (!tc.nan && got != tc.want) {
				t.Fatalf("Ratio(%v, %v) = %v", tc.a, tc.b, got)
			}
		})
	}
}
