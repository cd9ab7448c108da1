package stage

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBackoffCap(t *testing.T) {
	tests := map[string]struct {
		attempt      int
		initial, max time.Duration
		want         time.Duration
	}{
		"first retry uses initial":  {1, 500 * time.Millisecond, 30 * time.Second, 500 * time.Millisecond},
		"second doubles":            {2, 500 * time.Millisecond, 30 * time.Second, time.Second},
		"fifth":                     {5, 500 * time.Millisecond, 30 * time.Second, 8 * time.Second},
		"capped at max":             {7, 500 * time.Millisecond, 30 * time.Second, 30 * time.Second},
		"huge attempt no overflow":  {10_000, time.Second, time.Minute, time.Minute},
		"zero attempt acts as one":  {0, time.Second, time.Minute, time.Second},
		"initial above max clamped": {1, time.Minute, time.Second, time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := BackoffCap(tc.attempt, tc.initial, tc.max); got != tc.want {
				t.Fatalf("BackoffCap(%d) = %v, want %v", tc.attempt, got, tc.want)
			}
		})
	}
}

func TestBackoffFullJitter(t *testing.T) {
	tests := map[string]struct {
		rnd  float64
		want time.Duration
	}{
		"lowest draw is zero":    {0, 0},
		"half draw is half cap":  {0.5, 2 * time.Second},
		"highest draw below cap": {0.999, 3996 * time.Millisecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Backoff(3, time.Second, time.Minute, func() float64 { return tc.rnd })
			if got != tc.want {
				t.Fatalf("Backoff = %v, want %v", got, tc.want)
			}
		})
	}
	for i := 0; i < 1000; i++ { // the real source stays within [0, cap)
		if d := Backoff(4, time.Second, time.Minute, nil); d < 0 || d >= 8*time.Second {
			t.Fatalf("Backoff out of range: %v", d)
		}
	}
}

func TestPermanentClassification(t *testing.T) {
	base := errors.New("boom")
	tests := map[string]struct {
		err  error
		want bool
	}{
		"plain error is transient":       {base, false},
		"nil is not permanent":           {nil, false},
		"marked":                         {Permanent(base), true},
		"marked with format":             {Permanentf("bad input %d", 3), true},
		"wrapped marked stays permanent": {fmt.Errorf("ctx: %w", Permanent(base)), true},
		"joined with a permanent":        {errors.Join(base, Permanent(base)), true},
		"deadline is transient":          {fmt.Errorf("x: %w", errors.New("context deadline exceeded")), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := IsPermanent(tc.err); got != tc.want {
				t.Fatalf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) must be nil")
	}
	if !errors.Is(Permanent(base), base) {
		t.Fatal("Permanent must unwrap to the cause")
	}
}
