package stage

import (
	"sync"
	"time"
)

// stuckTracker records operations that keep failing (a publish or a commit
// retried without success). An operation is stuck from its first failure
// until it succeeds; since reports the oldest one. The runtime exports it as
// vidpipe_stage_stuck_seconds and fails /healthz past Runtime.StuckTimeout.
type stuckTracker struct {
	mu      sync.Mutex
	failing map[string]stuckEntry
}

type stuckEntry struct {
	since time.Time
	why   string
}

// fail marks op as failing with reason why (keeping its first failure time).
func (s *stuckTracker) fail(op, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing == nil {
		s.failing = map[string]stuckEntry{}
	}
	e, ok := s.failing[op]
	if !ok {
		e.since = now()
	}
	e.why = op + ": " + why
	s.failing[op] = e
}

// ok marks op as no longer failing.
func (s *stuckTracker) ok(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failing, op)
}

// since returns how long the oldest failing operation has been failing and
// its last error (0, "" when none is).
func (s *stuckTracker) since() (time.Duration, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest stuckEntry
	for _, e := range s.failing {
		if oldest.since.IsZero() || e.since.Before(oldest.since) {
			oldest = e
		}
	}
	if oldest.since.IsZero() {
		return 0, ""
	}
	return now().Sub(oldest.since), oldest.why
}

func (s *stuckTracker) seconds() float64 {
	d, _ := s.since()
	return d.Seconds()
}
