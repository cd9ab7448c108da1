package stage

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// errAbandoned marks an attempt whose handler did not return within
// AbandonGrace after its context was cancelled.
var errAbandoned = errors.New("handler abandoned")

type attemptResult[Out any] struct {
	out Out
	err error
}

// attempt runs the handler once under the attempt timeout; a panic becomes
// an error (retried like any other). If the handler does not return within
// AbandonGrace after its context is done, attempt stops waiting for it: the
// attempt fails with errAbandoned, the handler's goroutine is left behind
// and the worker reports itself unhealthy (/healthz) so that it gets
// restarted.
func (r *runner[In, Out]) attempt(ctx context.Context, in In) (out Out, err error, d time.Duration) {
	actx, cancel := context.WithTimeout(ctx, r.opts.Runtime.AttemptTimeout)
	defer cancel()
	start := time.Now()
	done := make(chan attemptResult[Out], 1)
	go func() {
		var res attemptResult[Out]
		defer func() {
			if p := recover(); p != nil {
				r.log.Error("handler panicked", "panic", p, "stack", string(debug.Stack()))
				res.err = fmt.Errorf("handler panicked: %v", p)
			}
			done <- res
		}()
		res.out, res.err = r.handler(actx, in)
	}()
	var res attemptResult[Out]
	select {
	case res = <-done:
	case <-actx.Done():
		t := time.NewTimer(r.opts.Runtime.AbandonGrace)
		select {
		case res = <-done:
			t.Stop()
		case <-t.C:
			r.metrics.handlerAbandoned()
			r.log.Error("handler ignored cancellation and was abandoned; the worker is now unhealthy and should be restarted",
				"key", in.Key(), "cancelled_by", context.Cause(actx), "abandon_grace", r.opts.Runtime.AbandonGrace)
			res.err = fmt.Errorf("%w: it did not return within %s after its context was cancelled (%v)",
				errAbandoned, r.opts.Runtime.AbandonGrace, context.Cause(actx))
		}
	}
	out, err, d = res.out, res.err, time.Since(start)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && errors.Is(context.Cause(actx), context.DeadlineExceeded) && ctx.Err() == nil {
		err = fmt.Errorf("attempt timed out after %s: %w", r.opts.Runtime.AttemptTimeout, err)
	}
	return out, err, d
}
