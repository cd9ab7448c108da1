package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// handleEvents serves GET /v1/videos/{id}/events: a Server-Sent Events
// stream of the video's status. It sends the current state at once (event
// "status", id = the state's version, data = the same JSON as GET
// /v1/videos/{id}), then each change, and ends after a ready or failed
// state. A comment line goes out every heartbeat so proxies keep the
// connection open. The stream ends when the client goes away.
//
// A video the projection does not know yet (the stream was opened right
// after the upload) is waited for up to SSEWait before answering 404;
// someone else's video is treated exactly like a missing one. A client
// reconnecting with Last-Event-ID at or past a ready/failed state gets
// 204, which tells EventSource to stop reconnecting.
//
// Streams are capped per user and per process (429 with Retry-After), end
// after StreamLifetime (the client reconnects with Last-Event-ID), and
// every write must finish within StreamWriteTimeout, so a client that
// stops reading does not hold the handler. A stream of a video that gets
// deleted ends (its reconnection answers 404).
func handleEvents(log *slog.Logger, o Options, lim *Limits, v viewer, status *projection.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		owner := ownerFrom(ctx)
		id := r.PathValue("id")
		if !contract.IsUUID(id) {
			writeError(w, r, log, errNotFound)
			return
		}
		release, busy := lim.acquireStream(owner)
		if busy != nil {
			writeError(w, r, log, busy)
			return
		}
		defer release()
		ch, cancel := status.Subscribe(ctx, id)
		defer cancel()

		lastSeen, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
		wait := time.NewTimer(o.SSEWait)
		defer wait.Stop()
		var first projection.State
	waiting:
		for {
			select {
			case st, ok := <-ch:
				if !ok {
					return // client gone
				}
				if st.Owner == owner && st.Deleted {
					writeError(w, r, log, errNotFound)
					return
				}
				if st.Owner == owner {
					first = st
					break waiting
				}
			case <-wait.C:
				writeError(w, r, log, errNotFound)
				return
			case <-ctx.Done():
				return
			}
		}
		if first.Terminal() && lastSeen >= first.Version {
			w.WriteHeader(http.StatusNoContent)
			return
		}

		es := startEventStream(w, lim.opts)
		defer es.stop()
		rc, deadline, lifetime := es.rc, es.deadline, es.lifetime

		send := func(st projection.State) bool {
			view, err := v.state(ctx, st)
			if err != nil {
				log.WarnContext(ctx, "sse: render state", "video_id", id, "err", err)
				return false
			}
			data, err := json.Marshal(view)
			if err != nil {
				return false
			}
			deadline()
			if _, err := fmt.Fprintf(w, "id: %d\nevent: status\ndata: %s\n\n", st.Version, data); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		if _, err := fmt.Fprintf(w, "retry: 3000\n\n"); err != nil {
			return
		}
		last := first.Version
		if (lastSeen < first.Version || lastSeen == 0) && !send(first) {
			return
		}
		if first.Terminal() {
			return
		}
		beat := time.NewTicker(o.SSEHeartbeat)
		defer beat.Stop()
		for {
			select {
			case st, ok := <-ch:
				if !ok {
					return
				}
				if st.Owner != owner || st.Version <= last {
					continue
				}
				if st.Deleted {
					return // the owner deleted the video: the stream ends
				}
				last = st.Version
				if !send(st) || st.Terminal() {
					return
				}
			case <-beat.C:
				if !es.heartbeat(w) {
					return
				}
			case <-ctx.Done():
				return
			case <-o.Stopping:
				return
			case <-lifetime:
				return
			}
		}
	})
}

// eventStream is a Server-Sent Events answer being written: every write
// gets its own deadline (deadline: now + StreamWriteTimeout, so a client
// that stops reading is dropped while a slow but live one is not), and
// lifetime fires after StreamLifetime (nil without one) to end the stream
// (the client reconnects).
type eventStream struct {
	rc       *http.ResponseController
	timeout  time.Duration
	lifetime <-chan time.Time
	timer    *time.Timer
}

// startEventStream sets the first write deadline, starts the lifetime
// and writes the stream's headers with 200. Call stop when it ends.
func startEventStream(w http.ResponseWriter, opts LimitOptions) *eventStream {
	es := &eventStream{rc: http.NewResponseController(w), timeout: opts.StreamWriteTimeout}
	es.deadline()
	if d := opts.StreamLifetime; d > 0 {
		es.timer = time.NewTimer(d)
		es.lifetime = es.timer.C
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return es
}

// deadline gives the next write StreamWriteTimeout to finish.
func (es *eventStream) deadline() { _ = es.rc.SetWriteDeadline(time.Now().Add(es.timeout)) }

// heartbeat writes a comment line (keeping proxies and the client's
// idle timers from closing the stream) within its own write deadline;
// false when the client is gone.
func (es *eventStream) heartbeat(w io.Writer) bool {
	es.deadline()
	if _, err := fmt.Fprintf(w, ": heartbeat\n\n"); err != nil {
		return false
	}
	return es.rc.Flush() == nil
}

func (es *eventStream) stop() {
	if es.timer != nil {
		es.timer.Stop()
	}
}
