package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// userStream opens GET /v1/events as token and returns its parsed events.
func (e *env) userStream(tb testing.TB, ctx context.Context, token string) <-chan sseEvent {
	tb.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		tb.Fatalf("GET /v1/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	evs := make(chan sseEvent, 64)
	go readSSE(resp.Body, evs, make(chan string, 1))
	return evs
}

// TestUserEventsStream: one GET /v1/events stream carries the changes of
// every video of its user (event "video", data = the video's view), a
// delete as event "deleted", and nothing of another user's videos.
func TestUserEventsStream(t *testing.T) {
	e := mustEnv(t, withOptions(func(o *Options) { o.SSEHeartbeat = 50 * time.Millisecond }))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := e.userStream(t, ctx, aliceToken)
	bob := e.userStream(t, ctx, bobToken)

	one := e.uploadedEvent("alice", "one")
	two := e.uploadedEvent("alice", "two")
	bobs := e.uploadedEvent("bob", "bob's")
	e.apply(t, contract.TopicUploaded, 0, one)
	e.apply(t, contract.TopicUploaded, 0, bobs)
	e.apply(t, contract.TopicUploaded, 0, two)
	e.apply(t, contract.TopicPlayable, 0, playableEvent(one))
	e.applyDeadLetter(t, two, "ffprobe: moov atom not found")
	if _, err := e.Status.MarkDeleted(ctx, "alice", one.VideoID, time.Now()); err != nil {
		t.Fatal(err)
	}

	// Alice's stream: both videos' changes, ending with one deleted and
	// two failed (a reader may see intermediate states coalesced, never
	// out of order per video).
	want := map[string]bool{"one:uploaded": true, "two:uploaded": true, "one:playable": true, "two:failed": true, "one:deleted": true}
	names := map[string]string{one.VideoID: "one", two.VideoID: "two"}
	got := map[string]bool{}
	last := map[string]string{}
	for !got["one:deleted"] || !got["two:failed"] {
		select {
		case ev, ok := <-alice:
			if !ok {
				t.Fatalf("alice's stream ended; got %v", got)
			}
			switch ev.event {
			case "video":
				var v videoView
				if err := json.Unmarshal(ev.data, &v); err != nil {
					t.Fatalf("video event %s: %v", ev.data, err)
				}
				name, ok := names[v.ID]
				if !ok {
					t.Fatalf("alice's stream carried video %s (%s)", v.ID, ev.data)
				}
				if v.Status == "failed" && (v.Failure == nil || strings.Contains(string(ev.data), "moov")) {
					t.Errorf("failed video event without its failure in words: %s", ev.data)
				}
				if v.Status == "playable" && v.HLS == nil {
					t.Errorf("playable video event without hls: %s", ev.data)
				}
				if last[name] == "deleted" {
					t.Errorf("%s changed after its delete: %s", name, v.Status)
				}
				got[name+":"+v.Status] = true
				last[name] = v.Status
			case "deleted":
				var d deletedEvent
				if err := json.Unmarshal(ev.data, &d); err != nil || names[d.ID] == "" {
					t.Fatalf("deleted event %s", ev.data)
				}
				got[names[d.ID]+":deleted"] = true
				last[names[d.ID]] = "deleted"
			default:
				t.Fatalf("unexpected event %q: %s", ev.event, ev.data)
			}
		case <-ctx.Done():
			t.Fatalf("alice's stream: got %v, want %v", got, want)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("unexpected change %s", k)
		}
	}

	// Bob's stream: his upload only. A change of bob's after alice's
	// shows that his stream had its chance to carry alice's.
	e.apply(t, contract.TopicPlayable, 0, playableEvent(bobs))
	for seen := map[string]bool{}; !seen["playable"]; {
		select {
		case ev, ok := <-bob:
			if !ok {
				t.Fatal("bob's stream ended")
			}
			var v videoView
			if ev.event != "video" || json.Unmarshal(ev.data, &v) != nil || v.ID != bobs.VideoID {
				t.Fatalf("bob's stream carried %s %s", ev.event, ev.data)
			}
			seen[v.Status] = true
		case <-ctx.Done():
			t.Fatal("bob's stream: no playable event")
		}
	}

	// Without a token: 401.
	resp, body := e.do(t, http.MethodGet, "/v1/events", "", nil, nil)
	mustErrorCode(t, resp, body, http.StatusUnauthorized, codeUnauthorized)
}

// TestUserEventsStreamsAreCapped: /v1/events counts toward the per-user
// stream cap like the per-video streams (429 past it).
func TestUserEventsStreamsAreCapped(t *testing.T) {
	e := mustEnv(t, withLimits(func(l *LimitOptions) { l.MaxStreamsPerUser = 1 }))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.userStream(t, ctx, aliceToken)
	resp, body := e.do(t, http.MethodGet, "/v1/events", aliceToken, nil, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second stream: %d %s, want 429 with Retry-After", resp.StatusCode, body)
	}
	// Another user is not held back by alice's streams.
	e.userStream(t, ctx, bobToken)
}

// TestUserEventsOutliveRequestTimeout: GET /v1/events is a long-running
// request: the ordinary per-request deadline (api.request_timeout) does
// not cut it, so a change after that deadline still arrives.
func TestUserEventsOutliveRequestTimeout(t *testing.T) {
	e := mustEnv(t, withOptions(func(o *Options) { o.RequestTimeout = 100 * time.Millisecond; o.SSEHeartbeat = time.Hour }))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	evs := e.userStream(t, ctx, aliceToken)
	time.Sleep(500 * time.Millisecond) // past the ordinary deadline
	up := e.uploadedEvent("alice", "late")
	e.apply(t, contract.TopicUploaded, 0, up)
	select {
	case ev, ok := <-evs:
		if !ok || ev.event != "video" || !strings.Contains(string(ev.data), up.VideoID) {
			t.Fatalf("after the request timeout: %+v (open %v)", ev, ok)
		}
	case <-ctx.Done():
		t.Fatal("no event")
	}
}
