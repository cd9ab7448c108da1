package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// deletedEvent is the data of an "event: deleted" on GET /v1/events.
type deletedEvent struct {
	ID string `json:"id"`
}

// handleUserEvents serves GET /v1/events: a Server-Sent Events stream of
// every change of the caller's videos (projection.Store.SubscribeOwner):
// "event: video" with data = the video as GET /v1/videos/{id} shows it,
// on every change of any of the caller's videos (a new upload, a status,
// a failure, progress, an edit), and "event: deleted" with data
// {"id": "..."} when one is deleted. It sends no current states (list the
// library first) and no event ids: a client that reconnects lists the
// library again. Changes that come faster than the client reads are
// coalesced per video (the latest state of each).
//
// It is a plain streamed GET with bearer auth, so fetch() can read it
// (EventSource cannot send an Authorization header). As on the per-video
// stream: a comment line every heartbeat, the per-user and per-process
// stream caps (429 with Retry-After; it counts like a per-video stream),
// the stream ends after StreamLifetime (the client reconnects) and every
// write must finish within StreamWriteTimeout.
func handleUserEvents(log *slog.Logger, o Options, lim *Limits, v viewer, status *projection.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		owner := ownerFrom(ctx)
		release, busy := lim.acquireStream(owner)
		if busy != nil {
			writeError(w, r, log, busy)
			return
		}
		defer release()
		sub, cancel := status.SubscribeOwner(ctx, owner)
		defer cancel()

		es := startEventStream(w, lim.opts)
		defer es.stop()
		rc, deadline, lifetime := es.rc, es.deadline, es.lifetime
		if _, err := fmt.Fprintf(w, "retry: 3000\n\n"); err != nil || rc.Flush() != nil {
			return
		}

		send := func(st projection.State) bool {
			event, data := "video", []byte(nil)
			var err error
			if st.Deleted {
				event = "deleted"
				data, err = json.Marshal(deletedEvent{ID: st.VideoID})
			} else {
				view, verr := v.state(ctx, st)
				if verr != nil {
					log.WarnContext(ctx, "sse: render state", "video_id", st.VideoID, "err", verr)
					return true // skip this one, keep the stream
				}
				data, err = json.Marshal(view)
			}
			if err != nil {
				return false
			}
			deadline()
			_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
			return err == nil
		}
		beat := time.NewTicker(o.SSEHeartbeat)
		defer beat.Stop()
		for {
			select {
			case <-sub.Ready():
				for _, st := range sub.Take() {
					if !send(st) {
						return
					}
				}
				if rc.Flush() != nil {
					return
				}
			case <-beat.C:
				if !es.heartbeat(w) {
					return
				}
			case <-sub.Done():
				return
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
