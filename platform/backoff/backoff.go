// Package backoff is vidpipe's one retry pacing: exponential delays from
// Initial doubling up to Max, with or without "full jitter", and a Sleep
// that ends early when its context does.
//
// Every retry loop in the platform, the services and the dev tooling uses it:
// the stage runtime (handler attempts, commits, publishes), the upload
// publisher, the status projection and the dev stack's restarts.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy paces retries. The zero value is not useful: set Initial and Max.
type Policy struct {
	// Initial is the cap of the first retry's delay.
	Initial time.Duration
	// Max bounds every delay.
	Max time.Duration
	// Jitter draws each delay uniformly from [0, cap) ("full jitter", so
	// clients that failed together do not retry together); without it the
	// delay is the cap itself.
	Jitter bool
	// EqualJitter draws each delay uniformly from [cap/2, cap) instead
	// ("equal jitter": spread out, yet never much shorter than the cap).
	// Jitter takes precedence.
	EqualJitter bool
	// Rand returns a float in [0, 1); nil uses math/rand/v2. For tests.
	Rand func() float64
}

// Delay returns the pause before retry number attempt (1 = the delay after
// the first failure): the cap min(Max, Initial·2^(attempt-1)), or a
// uniform draw below it with Jitter, or between its half and it with
// EqualJitter.
func (p Policy) Delay(attempt int) time.Duration {
	c := Cap(attempt, p.Initial, p.Max)
	if !p.Jitter && !p.EqualJitter {
		return c
	}
	rnd := p.Rand
	if rnd == nil {
		rnd = rand.Float64
	}
	if p.Jitter {
		return time.Duration(rnd() * float64(c))
	}
	return c/2 + time.Duration(rnd()*float64(c-c/2))
}

// Wait sleeps for Delay(attempt) and reports whether it slept the whole
// time (false: ctx ended first).
func (p Policy) Wait(ctx context.Context, attempt int) bool { return Sleep(ctx, p.Delay(attempt)) }

// Jittered returns the full-jitter delay before retry attempt: a uniform
// random duration in [0, Cap(attempt, initial, max)). rnd returns a float in
// [0, 1); nil uses math/rand/v2.
func Jittered(attempt int, initial, max time.Duration, rnd func() float64) time.Duration {
	return Policy{Initial: initial, Max: max, Jitter: true, Rand: rnd}.Delay(attempt)
}

// Cap is the upper bound of the delay before retry attempt:
// min(max, initial·2^(attempt-1)); attempt < 1 counts as 1, and initial
// above max is clamped to max. It never overflows.
func Cap(attempt int, initial, max time.Duration) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	c := initial
	for i := 1; i < attempt; i++ {
		if c >= max/2 {
			return max
		}
		c *= 2
	}
	if c > max {
		return max
	}
	return c
}

// Sleep pauses for d and reports whether it slept the whole time (false:
// ctx ended first). A d ≤ 0 returns at once with ctx.Err() == nil.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
