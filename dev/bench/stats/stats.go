// Package stats summarises benchmark samples: medians, percentiles, and a
// figure's ratio to its baseline checked against a target.
package stats

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Median returns the median of xs (the mean of the two middle values for
// an even count), or NaN for no samples. xs is not modified.
func Median(xs []float64) float64 {
	return Percentile(xs, 50)
}

// Percentile returns the p-th percentile (0..100) of xs by linear
// interpolation between closest ranks, or NaN for no samples. xs is not
// modified.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if p <= 0 {
		return s[0]
	}
	if p >= 100 {
		return s[len(s)-1]
	}
	rank := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	return s[lo] + (s[hi]-s[lo])*(rank-float64(lo))
}

// Seconds converts durations to seconds.
func Seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// Direction says which way a figure is better.
type Direction int

const (
	// AtLeast: the figure must be ≥ the target (throughput ratios).
	AtLeast Direction = iota
	// AtMost: the figure must be ≤ the target (time ratios, memory).
	AtMost
)

// Target is the bound a figure is checked against.
type Target struct {
	Dir   Direction
	Value float64
	// Unit is printed after Value, e.g. "×" or " MiB". Default: "".
	Unit string
}

// String renders the target, e.g. "≥ 0.80×".
func (t Target) String() string {
	op := "≥"
	if t.Dir == AtMost {
		op = "≤"
	}
	return fmt.Sprintf("%s %s%s", op, trim(t.Value), t.Unit)
}

// Met reports whether v satisfies the target; NaN never does.
func (t Target) Met(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if t.Dir == AtMost {
		return v <= t.Value
	}
	return v >= t.Value
}

// Verdict is "PASS" when v meets t and "MISS" otherwise.
func (t Target) Verdict(v float64) string {
	if t.Met(v) {
		return "PASS"
	}
	return "MISS"
}

// Ratio is a/b, or NaN when b is 0 or either is NaN.
func Ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

// trim formats v with up to two decimals and no trailing zeros.
func trim(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
