package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vidpipe/vidpipe/platform/backoff"
)

// errStopped is returned by a start phase that was cancelled while waiting
// for a dependency: a clean exit, not a failure.
var errStopped = errors.New("stopped while waiting for a dependency")

// stoppedOr returns errStopped when ctx was cancelled (stopped while
// waiting for a dependency is a clean exit), else err.
func stoppedOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errStopped
	}
	return err
}

// retry runs fn until it succeeds or ctx is done (then it returns
// ctx.Err()), backing off from 500ms to 5s and logging each failure: a
// dependency that is still starting delays the start instead of failing it.
func retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	pace := backoff.Policy{Initial: 500 * time.Millisecond, Max: 5 * time.Second}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		delay := pace.Delay(attempt)
		log.Warn("waiting for a dependency", "step", what, "retry_in", delay, "err", err)
		if !backoff.Sleep(ctx, delay) {
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		}
	}
}
