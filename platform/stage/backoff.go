package stage

import (
	"math/rand/v2"
	"time"
)

// Backoff returns the delay before retry number attempt (1 = the delay
// after the first failed attempt) with "full jitter": a uniform random
// duration in [0, cap) where cap = min(max, initial·2^(attempt-1)).
// rnd returns a float in [0, 1); nil uses math/rand/v2.
func Backoff(attempt int, initial, max time.Duration, rnd func() float64) time.Duration {
	c := BackoffCap(attempt, initial, max)
	if rnd == nil {
		rnd = rand.Float64
	}
	return time.Duration(rnd() * float64(c))
}

// BackoffCap is the upper bound of [Backoff] for attempt.
func BackoffCap(attempt int, initial, max time.Duration) time.Duration {
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
