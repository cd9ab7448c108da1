package backoff

import (
	"context"
	"testing"
	"time"
)

func TestCap(t *testing.T) {
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
			if got := Cap(tc.attempt, tc.initial, tc.max); got != tc.want {
				t.Fatalf("Cap(%d) = %v, want %v", tc.attempt, got, tc.want)
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
			got := Jittered(3, time.Second, time.Minute, func() float64 { return tc.rnd })
			if got != tc.want {
				t.Fatalf("Jittered = %v, want %v", got, tc.want)
			}
		})
	}
	for i := 0; i < 1000; i++ { // the real source stays within [0, cap)
		if d := Jittered(4, time.Second, time.Minute, nil); d < 0 || d >= 8*time.Second {
			t.Fatalf("Jittered out of range: %v", d)
		}
	}
}

func TestPolicyWithoutJitterIsTheCap(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second} {
		if got := p.Delay(attempt); got != want {
			t.Errorf("Delay(%d) = %v, want %v", attempt, got, want)
		}
	}
}

func TestEqualJitter(t *testing.T) {
	tests := map[string]struct {
		rnd  float64
		want time.Duration
	}{
		"lowest draw is half the cap": {0, 2 * time.Second},
		"half draw":                   {0.5, 3 * time.Second},
		"highest draw below cap":      {0.999, 3998 * time.Millisecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := Policy{Initial: time.Second, Max: time.Minute, EqualJitter: true, Rand: func() float64 { return tc.rnd }}
			if got := p.Delay(3); got != tc.want {
				t.Fatalf("Delay(3) = %v, want %v", got, tc.want)
			}
		})
	}
	p := Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, EqualJitter: true}
	for i := 0; i < 1000; i++ { // the real source stays within [cap/2, cap)
		if d := p.Delay(30); d < 2500*time.Millisecond || d >= 5*time.Second {
			t.Fatalf("Delay(30) out of range: %v", d)
		}
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a cancelled context slept")
	}
	if !Sleep(context.Background(), time.Millisecond) || !Sleep(context.Background(), 0) {
		t.Fatal("Sleep did not report a full sleep")
	}
	if (Policy{Initial: time.Hour, Max: time.Hour}).Wait(ctx, 1) {
		t.Fatal("Wait on a cancelled context waited")
	}
}
