package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
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
	delay := 500 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		log.Warn("waiting for a dependency", "step", what, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
