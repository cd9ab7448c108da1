package dispatch_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/services/webhooks/dispatch"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
	"github.com/vidpipe/vidpipe/services/webhooks/ssrf"
)

// TestDeliversEventsSignedOnceToTheOwner: pipeline records reach the
// owner's endpoints with Standard Webhooks headers that the reference
// library verifies and a CloudEvents body; a redelivered record is
// delivered once; another user's endpoint gets nothing; an endpoint
// subscribed to video.ready gets only that.
func TestDeliversEventsSignedOnceToTheOwner(t *testing.T) {
	e := startEnv(t, ssrf.Guard{AllowPrivate: true}, dispatch.Options{})
	all, readyOnly, bobs := newReceiver(t), newReceiver(t), newReceiver(t)
	all.secret = e.register(t, "alice", all.URL+"/all", "*").Secret
	readyOnly.secret = e.register(t, "alice", readyOnly.URL+"/ready", "video.ready").Secret
	bobs.secret = e.register(t, "bob", bobs.URL+"/bob", "*").Secret

	up := uploaded("alice")
	upID, readyID := contract.UploadedEventID(up.VideoID), contract.NewID()
	readyRec := record(t, ready(up), readyID)
	e.k.Produce(t, record(t, up, upID), readyRec)
	e.k.Produce(t, readyRec) // a redelivery duplicate: same ce_id
	marker := uploaded("alice")
	markerID := contract.UploadedEventID(marker.VideoID)
	e.k.Produce(t, record(t, marker, markerID))
	waitFor(t, "the marker event", func() bool { return all.count(markerID) == 1 })
	e.recorded(t, readyID)
	e.idle(t)

	if n := all.count(readyID); n != 1 {
		t.Errorf("video.ready delivered %d times to the * endpoint, want once (the duplicate record carried the same ce_id)", n)
	}
	if n := all.count(upID); n != 1 {
		t.Errorf("video.uploaded delivered %d times, want 1", n)
	}
	if got := readyOnly.deliveries(); len(got) != 1 || got[0].Header.Get("webhook-id") != readyID {
		t.Errorf("the video.ready endpoint got %d deliveries, want video.ready alone", len(got))
	}
	if got := bobs.deliveries(); len(got) != 0 {
		t.Errorf("bob's endpoint got %d deliveries of alice's video", len(got))
	}
	for _, d := range append(all.deliveries(), readyOnly.deliveries()...) {
		if d.VerifyErr != nil {
			t.Errorf("delivery %s does not verify with the reference library: %v", d.Header.Get("webhook-id"), d.VerifyErr)
		}
		ts, err := strconv.ParseInt(d.Header.Get("webhook-timestamp"), 10, 64)
		if err != nil || ts < time.Now().Add(-time.Hour).Unix() {
			t.Errorf("webhook-timestamp %q is no recent unix time", d.Header.Get("webhook-timestamp"))
		}
		if ct := d.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/cloudevents+json") {
			t.Errorf("Content-Type = %q", ct)
		}
	}
	for _, d := range readyOnly.deliveries() {
		ce := d.CE
		if ce.SpecVersion != "1.0" || ce.ID != readyID || ce.Type != contract.TypeReady || ce.Subject != up.VideoID ||
			ce.Source != contract.SourceFor("test") || ce.DataContentType != "application/json" || ce.Time.IsZero() {
			t.Errorf("CloudEvent = %+v", ce)
		}
		got, err := contract.Decode[contract.VideoReady](ce.Data)
		if err != nil || got.VideoID != up.VideoID || got.Owner != "alice" || len(got.Renditions) != 1 {
			t.Errorf("data is not the video.ready event: %v %s", err, ce.Data)
		}
	}

	// The delivery log, newest first, paginated.
	var page struct {
		Deliveries []endpoints.Delivery `json:"deliveries"`
		NextCursor string               `json:"next_cursor"`
	}
	var list struct {
		Webhooks []created `json:"webhooks"`
	}
	e.call(t, "alice", "GET", "/v1/webhooks", nil, &list)
	if len(list.Webhooks) != 2 || list.Webhooks[0].Secret != "" {
		t.Fatalf("alice's endpoints = %+v, want 2 without secrets", list.Webhooks)
	}
	allID := list.Webhooks[0].ID
	if st := e.call(t, "alice", "GET", "/v1/webhooks/"+allID+"/deliveries?limit=2", nil, &page); st != 200 || len(page.Deliveries) != 2 || page.NextCursor == "" {
		t.Fatalf("deliveries page 1: %d %+v", st, page)
	}
	first, cursor := page.Deliveries, page.NextCursor
	if first[0].ID < first[1].ID || first[0].Status != "delivered" || first[0].StatusCode == nil || *first[0].StatusCode != 204 ||
		first[0].Attempts != 1 || first[0].LatencyMS == nil || first[0].DeliveredAt == nil {
		t.Errorf("newest delivery = %+v", first[0])
	}
	page.Deliveries, page.NextCursor = nil, ""
	e.call(t, "alice", "GET", "/v1/webhooks/"+allID+"/deliveries?limit=2&cursor="+cursor, nil, &page)
	if len(page.Deliveries) != 1 || page.Deliveries[0].ID > first[1].ID || page.NextCursor != "" {
		t.Errorf("deliveries page 2 = %+v", page)
	}
	seen := map[string]string{}
	for _, d := range append(first, page.Deliveries...) {
		seen[d.EventID] = d.EventType
	}
	if len(seen) != 3 || seen[upID] != "video.uploaded" || seen[readyID] != "video.ready" || seen[markerID] != "video.uploaded" {
		t.Errorf("the delivery log has %v, want the three events once each", seen)
	}
	if st := e.call(t, "bob", "GET", "/v1/webhooks/"+allID+"/deliveries", nil, nil); st != http.StatusNotFound {
		t.Errorf("bob reading alice's delivery log: %d, want 404", st)
	}

	// Replay since before the events: every event again, same webhook-id.
	var rep struct{ Replayed int }
	since := up.UploadedAt.Add(-time.Minute).Format(time.RFC3339)
	if st := e.call(t, "alice", "POST", "/v1/webhooks/"+allID+"/replay", map[string]string{"since": since}, &rep); st != http.StatusAccepted || rep.Replayed != 3 {
		t.Fatalf("replay: %d %+v, want 202 and 3 events", st, rep)
	}
	waitFor(t, "the replayed events", func() bool {
		return all.count(upID) == 2 && all.count(readyID) == 2 && all.count(markerID) == 2
	})
}

// TestDeadLetterBecomesVideoFailed: a stage's dead letter (here a
// transcode chunk's, key <id>/v00003) is delivered as video.failed with
// the stage and the user-safe code, never the raw error.
func TestDeadLetterBecomesVideoFailed(t *testing.T) {
	e := startEnv(t, ssrf.Guard{AllowPrivate: true}, dispatch.Options{})
	r := newReceiver(t)
	r.secret = e.register(t, "alice", r.URL, "video.failed").Secret

	up := uploaded("alice")
	e.k.Produce(t, record(t, up, contract.UploadedEventID(up.VideoID)))
	chunk := contract.TranscodeChunk{SchemaVersion: contract.SchemaVersion, Video: up.Video, Run: "r", Kind: contract.ChunkVideo, Index: 3, Chunks: 5}
	value, _ := json.Marshal(chunk)
	chunkID := contract.NewID()
	hs := []contract.Header{{Key: contract.HeaderID, Value: []byte(chunkID)}, {Key: contract.HeaderType, Value: []byte(contract.TypeTranscodeChunk)}}
	hs = contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicTranscodeChunks, Partition: 1, Offset: 7, Group: "transcode-chunks",
		Err: "ffmpeg: secret internal path /var/x", Class: contract.ErrorClassPermanent, Code: contract.ErrorCodeCorruptMedia,
		Attempts: 1, FailedAt: time.Now()}.Headers(hs)
	var kh []kafka.Header
	for _, h := range hs {
		kh = append(kh, kafka.Header{Key: h.Key, Value: h.Value})
	}
	dead := kafka.Message{Topic: contract.TopicTranscodeDLQ, Key: []byte(up.VideoID + "/v00003"), Value: value, Headers: kh}
	e.k.Produce(t, dead)
	// A dead letter whose value was moved to S3: the owner comes from the
	// video seen before.
	moved := dead
	moved.Value = nil
	moved.Headers = append(append([]kafka.Header(nil), kh...), kafka.Header{Key: contract.HeaderDLQValueRef, Value: []byte("s3://b/k")})
	moved.Headers[0].Value = []byte(contract.NewID())
	e.k.Produce(t, moved)

	wantID := contract.DeriveID("webhooks", "video.failed", chunkID)
	waitFor(t, "video.failed", func() bool { return len(r.deliveries()) == 2 })
	// Two deliveries may be in flight at once: find each by its id.
	var d, other delivery
	for _, x := range r.deliveries() {
		if x.Header.Get("webhook-id") == wantID {
			d = x
		} else {
			other = x
		}
	}
	if d.Header == nil || d.VerifyErr != nil {
		t.Fatalf("no verified delivery with webhook-id %s (got %v)", wantID, r.deliveries())
	}
	var data dispatch.FailedData
	if err := json.Unmarshal(d.CE.Data, &data); err != nil {
		t.Fatal(err)
	}
	if d.CE.Type != dispatch.TypeFailedCE || d.CE.Subject != up.VideoID || data.VideoID != up.VideoID || data.Owner != "alice" ||
		data.Stage != "transcode" || data.Code != contract.ErrorCodeCorruptMedia || data.Item != "v00003" || data.Attempts != 1 {
		t.Errorf("video.failed = %+v %+v", d.CE, data)
	}
	if strings.Contains(string(d.Body), "secret internal path") {
		t.Error("the raw dlq.error reached the user")
	}
	if other.CE.Subject != up.VideoID || other.CE.Type != dispatch.TypeFailedCE {
		t.Errorf("the moved dead letter's event = %+v", other.CE)
	}
}

// TestFailingEndpointRetriedDeadLetteredAndRedriven: an endpoint answering
// 500 is retried with backoff until the horizon, the delivery goes to
// webhooks.dlq with the contract's headers, and a redrive with
// vidpipectl's code (platform/dlq) delivers it once the endpoint works,
// with the same webhook-id.
func TestFailingEndpointRetriedDeadLetteredAndRedriven(t *testing.T) {
	e := startEnv(t, ssrf.Guard{AllowPrivate: true}, dispatch.Options{Horizon: time.Second})
	r := newReceiver(t)
	var failing = true
	r.status = func() int {
		if failing {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	ep := e.register(t, "alice", r.URL+"/hook", "video.uploaded")
	r.secret = ep.Secret
	up := uploaded("alice")
	id := contract.UploadedEventID(up.VideoID)
	e.k.Produce(t, record(t, up, id))

	msgs := e.k.ReadAll(t, contract.TopicWebhooksDLQ, 1, 90*time.Second)
	m := msgs[0]
	attempts := r.count(id)
	if attempts < 2 {
		t.Errorf("%d attempts before the dead letter, want retries", attempts)
	}
	var hs []contract.Header
	for _, h := range m.Headers {
		hs = append(hs, contract.Header{Key: h.Key, Value: h.Value})
	}
	dl, ok := contract.ParseDeadLetter(hs)
	if !ok || dl.Stage != contract.StageWebhooks || dl.Class != contract.ErrorClassExhausted || dl.Attempts != attempts ||
		dl.Topic != contract.TopicUploaded || !strings.Contains(dl.Err, "HTTP 500") {
		t.Errorf("dead letter = %+v (ok %v), want stage webhooks, exhausted, %d attempts, HTTP 500", dl, ok, attempts)
	}
	if string(m.Key) != up.VideoID || contract.HeaderValue(hs, contract.HeaderWebhookEndpoint) != ep.ID ||
		contract.HeaderValue(hs, contract.HeaderWebhookEventID) != id || contract.HeaderValue(hs, contract.HeaderID) != id {
		t.Errorf("dead letter key %s headers %v", m.Key, hs)
	}
	if _, err := contract.Decode[contract.VideoUploaded](m.Value); err != nil {
		t.Errorf("dead letter value is not the event's data: %v", err)
	}
	var page struct{ Deliveries []endpoints.Delivery }
	e.call(t, "alice", "GET", "/v1/webhooks/"+ep.ID+"/deliveries", nil, &page)
	if len(page.Deliveries) != 1 || page.Deliveries[0].Status != endpoints.StatusDeadLettered || page.Deliveries[0].StatusCode == nil ||
		*page.Deliveries[0].StatusCode != 500 || page.Deliveries[0].Error == nil || !strings.Contains(*page.Deliveries[0].Error, "HTTP 500") {
		t.Errorf("delivery log = %+v", page.Deliveries)
	}

	// vidpipectl dlq list / redrive webhooks (the same code).
	r.mu.Lock()
	failing = false
	r.mu.Unlock()
	admin := dlq.NewAdmin(e.k.Brokers)
	ctx := context.Background()
	list, err := admin.List(ctx, contract.StageWebhooks, false)
	if err != nil || len(list) != 1 || list[0].Key != up.VideoID {
		t.Fatalf("dlq list webhooks = %v, %v", list, err)
	}
	redriven, err := admin.Redrive(ctx, contract.StageWebhooks, dlq.RedriveOptions{VideoID: up.VideoID})
	if err != nil || len(redriven) != 1 || dlq.RedriveTopic(contract.StageWebhooks, redriven[0]) != contract.TopicWebhooksRedrive {
		t.Fatalf("redrive = %v, %v", redriven, err)
	}
	waitFor(t, "the redriven delivery", func() bool {
		ds := r.deliveries()
		return len(ds) > attempts && ds[len(ds)-1].Header.Get("webhook-id") == id && ds[len(ds)-1].VerifyErr == nil
	})
	e.idle(t)
	page.Deliveries = nil
	e.call(t, "alice", "GET", "/v1/webhooks/"+ep.ID+"/deliveries", nil, &page)
	if len(page.Deliveries) != 1 || page.Deliveries[0].Status != endpoints.StatusDelivered || page.Deliveries[0].Attempts != 1 {
		t.Errorf("after the redrive the delivery log = %+v", page.Deliveries)
	}
	if again, err := admin.Redrive(ctx, contract.StageWebhooks, dlq.RedriveOptions{}); err != nil || len(again) != 0 {
		t.Errorf("a second redrive found %d records (%v), want none", len(again), err)
	}
}

// TestHangingEndpointDoesNotDelayAnother: with an endpoint whose requests
// never end, another endpoint of the same user gets every event; the
// hanging one holds at most its per-endpoint share of the workers.
func TestHangingEndpointDoesNotDelayAnother(t *testing.T) {
	e := startEnv(t, ssrf.Guard{AllowPrivate: true}, dispatch.Options{Workers: 4, PerEndpoint: 2, AttemptTimeout: 10 * time.Minute})
	hanging, healthy := newReceiver(t), newReceiver(t)
	hanging.block = make(chan struct{})
	e.register(t, "alice", hanging.URL, "*")
	healthy.secret = e.register(t, "alice", healthy.URL, "*").Secret
	var ids []string
	for range 10 {
		up := uploaded("alice")
		id := contract.UploadedEventID(up.VideoID)
		ids = append(ids, id)
		e.k.Produce(t, record(t, up, id))
	}
	waitFor(t, "every event at the healthy endpoint", func() bool {
		for _, id := range ids {
			if healthy.count(id) != 1 {
				return false
			}
		}
		return true
	})
	hanging.mu.Lock()
	started := hanging.started
	hanging.mu.Unlock()
	if started == 0 || started > 2 {
		t.Errorf("the hanging endpoint has %d requests in flight, want 1..2 (max_in_flight_per_endpoint)", started)
	}
}

// TestAutoDisableAndEnable: an endpoint whose deliveries keep failing
// until the horizon is disabled (here after one such delivery), gets no
// new deliveries while disabled, and works again after POST .../enable.
func TestAutoDisableAndEnable(t *testing.T) {
	e := startEnv(t, ssrf.Guard{AllowPrivate: true}, dispatch.Options{Horizon: 300 * time.Millisecond,
		Disable: endpoints.DisablePolicy{Exhausted: 1}})
	r := newReceiver(t)
	failing := true
	r.status = func() int {
		if failing {
			return http.StatusBadGateway
		}
		return http.StatusOK
	}
	ep := e.register(t, "alice", r.URL, "*")
	up := uploaded("alice")
	e.k.Produce(t, record(t, up, contract.UploadedEventID(up.VideoID)))
	var got created
	waitFor(t, "the endpoint to be disabled", func() bool {
		e.call(t, "alice", "GET", "/v1/webhooks/"+ep.ID, nil, &got)
		return !got.Enabled
	})
	if !strings.Contains(got.DisabledReason, "in a row") {
		t.Errorf("disabled_reason = %q", got.DisabledReason)
	}
	while := uploaded("alice")
	whileID := contract.UploadedEventID(while.VideoID)
	e.k.Produce(t, record(t, while, whileID))
	e.recorded(t, whileID)
	var page struct{ Deliveries []endpoints.Delivery }
	e.call(t, "alice", "GET", "/v1/webhooks/"+ep.ID+"/deliveries", nil, &page)
	if len(page.Deliveries) != 1 {
		t.Errorf("a disabled endpoint got a delivery enqueued: %+v", page.Deliveries)
	}

	r.mu.Lock()
	failing = false
	r.mu.Unlock()
	if st := e.call(t, "bob", "POST", "/v1/webhooks/"+ep.ID+"/enable", nil, nil); st != http.StatusNotFound {
		t.Errorf("bob enabling alice's endpoint: %d, want 404", st)
	}
	got = created{}
	if st := e.call(t, "alice", "POST", "/v1/webhooks/"+ep.ID+"/enable", nil, &got); st != 200 || !got.Enabled || got.DisabledReason != "" {
		t.Fatalf("enable: %d %+v", st, got)
	}
	after := uploaded("alice")
	afterID := contract.UploadedEventID(after.VideoID)
	e.k.Produce(t, record(t, after, afterID))
	waitFor(t, "a delivery after re-enabling", func() bool { return r.count(afterID) == 1 })
}

// TestSSRFRefusedAtDelivery: an endpoint whose host name resolves to a
// loopback address (here "localhost"; as after DNS rebinding, it was
// stored past the creation check) is never connected to when private
// addresses are not allowed: the dialer's guard refuses the address.
func TestSSRFRefusedAtDelivery(t *testing.T) {
	e := startEnv(t, ssrf.Guard{}, dispatch.Options{})
	r := newReceiver(t)
	port := r.URL[strings.LastIndex(r.URL, ":")+1:]
	url := "http://localhost:" + port + "/hook"
	if st := e.call(t, "alice", "POST", "/v1/webhooks", map[string]any{"url": "https://localhost:" + port + "/hook", "event_types": []string{"*"}}, nil); st != http.StatusBadRequest {
		t.Errorf("creating an endpoint on localhost: %d, want 400", st)
	}
	ep, _, err := e.store.Create(context.Background(), "alice", endpoints.NewEndpoint{URL: url, EventTypes: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	up := uploaded("alice")
	e.k.Produce(t, record(t, up, contract.UploadedEventID(up.VideoID)))
	var page struct{ Deliveries []endpoints.Delivery }
	waitFor(t, "a refused attempt in the delivery log", func() bool {
		page.Deliveries = nil
		e.call(t, "alice", "GET", "/v1/webhooks/"+ep.ID+"/deliveries", nil, &page)
		return len(page.Deliveries) == 1 && page.Deliveries[0].Error != nil
	})
	if msg := *page.Deliveries[0].Error; !strings.Contains(msg, "refused") || !strings.Contains(msg, "loopback") {
		t.Errorf("error = %q, want a refusal naming loopback", msg)
	}
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if started != 0 {
		t.Errorf("the receiver on 127.0.0.1 got %d requests", started)
	}
}

// TestLifecycleEventsAndSecretRotation: video.deleted and video.updated
// reach an endpoint subscribed to them; after rotate-secret a delivery is
// signed with both secrets (the reference library accepts it with either),
// and only with the new one when there is no grace.
func TestLifecycleEventsAndSecretRotation(t *testing.T) {
	e := startEnv(t, ssrf.Guard{AllowPrivate: true}, dispatch.Options{})
	r := newReceiver(t)
	ep := e.register(t, "alice", r.URL, "video.deleted", "video.updated")
	oldSecret := ep.Secret
	var rotated created
	if st := e.call(t, "alice", "POST", "/v1/webhooks/"+ep.ID+"/rotate-secret", nil, &rotated); st != 200 || rotated.Secret == oldSecret {
		t.Fatalf("rotate-secret: %d %+v", st, rotated)
	}
	up := uploaded("alice")
	upd := contract.VideoUpdated{SchemaVersion: contract.SchemaVersion, Video: up.Video, UpdatedAt: time.Now().UTC()}
	upd.Title = "Renamed"
	del := contract.VideoDeleted{SchemaVersion: contract.SchemaVersion, VideoID: up.VideoID, Owner: "alice", DeletedAt: time.Now().UTC()}
	updID, delID := contract.NewID(), contract.NewID()
	e.k.Produce(t, record(t, up, contract.UploadedEventID(up.VideoID)), record(t, upd, updID), record(t, del, delID))
	waitFor(t, "the lifecycle events", func() bool { return r.count(updID) == 1 && r.count(delID) == 1 })
	for _, d := range r.deliveries() {
		sig := d.Header.Get("webhook-signature")
		if n := strings.Count(sig, "v1,"); n != 2 {
			t.Errorf("signature %q has %d signatures during the rotation grace, want 2", sig, n)
		}
		for _, secret := range []string{oldSecret, rotated.Secret} {
			if err := verifyWith(secret, d); err != nil {
				t.Errorf("delivery %s does not verify with the %s secret: %v", d.Header.Get("webhook-id"), map[bool]string{true: "old", false: "new"}[secret == oldSecret], err)
			}
		}
		switch d.Header.Get("webhook-id") {
		case updID:
			if d.CE.Type != contract.TypeUpdated || !strings.Contains(string(d.CE.Data), `"Renamed"`) {
				t.Errorf("video.updated = %+v", d.CE)
			}
		case delID:
			if d.CE.Type != contract.TypeDeleted || d.CE.Subject != up.VideoID {
				t.Errorf("video.deleted = %+v", d.CE)
			}
		default:
			t.Errorf("unexpected delivery %s (the endpoint subscribes to lifecycle events only)", d.Header.Get("webhook-id"))
		}
	}
}

func verifyWith(secret string, d delivery) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	return wh.Verify(d.Body, d.Header)
}

// TestDisabledAfterFailingContinuously: an endpoint that keeps failing
// for webhooks.disable_after (here 300ms) is disabled even though no
// delivery reached the retry horizon.
func TestDisabledAfterFailingContinuously(t *testing.T) {
	e := startEnv(t, ssrf.Guard{AllowPrivate: true}, dispatch.Options{Horizon: time.Hour,
		Disable: endpoints.DisablePolicy{FailingFor: 300 * time.Millisecond}})
	r := newReceiver(t)
	r.status = func() int { return http.StatusServiceUnavailable }
	ep := e.register(t, "alice", r.URL, "*")
	up := uploaded("alice")
	e.k.Produce(t, record(t, up, contract.UploadedEventID(up.VideoID)))
	var got created
	waitFor(t, "the endpoint to be disabled", func() bool {
		got = created{}
		e.call(t, "alice", "GET", "/v1/webhooks/"+ep.ID, nil, &got)
		return !got.Enabled
	})
	if !strings.Contains(got.DisabledReason, "failing continuously") {
		t.Errorf("disabled_reason = %q", got.DisabledReason)
	}
	var page struct{ Deliveries []endpoints.Delivery }
	e.call(t, "alice", "GET", "/v1/webhooks/"+ep.ID+"/deliveries", nil, &page)
	if len(page.Deliveries) != 1 || page.Deliveries[0].Status != endpoints.StatusPending || page.Deliveries[0].Attempts < 2 {
		t.Errorf("the delivery = %+v, want still pending (the horizon is an hour) after retries", page.Deliveries)
	}
}

// TestRedirectNotFollowed: a 3xx answer is a failed attempt; the target
// of the redirect is never contacted.
func TestRedirectNotFollowed(t *testing.T) {
	e := startEnv(t, ssrf.Guard{AllowPrivate: true}, dispatch.Options{})
	target := newReceiver(t)
	redirect := newReceiver(t)
	redirect.status = func() int { return http.StatusFound }
	redirect.location = target.URL + "/elsewhere"
	ep := e.register(t, "alice", redirect.URL, "*")
	up := uploaded("alice")
	id := contract.UploadedEventID(up.VideoID)
	e.k.Produce(t, record(t, up, id))
	var page struct{ Deliveries []endpoints.Delivery }
	waitFor(t, "a failed attempt", func() bool {
		page.Deliveries = nil
		e.call(t, "alice", "GET", "/v1/webhooks/"+ep.ID+"/deliveries", nil, &page)
		return len(page.Deliveries) == 1 && page.Deliveries[0].Error != nil
	})
	if d := page.Deliveries[0]; *d.StatusCode != http.StatusFound || !strings.Contains(*d.Error, "redirects are not followed") || d.Status != endpoints.StatusPending {
		t.Errorf("delivery = %+v (%s)", d, *d.Error)
	}
	if n := len(target.deliveries()); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

// TestHostileRecordsDoNotStopTheConsumer: records the database cannot
// store or that name no valid owner are skipped, and the records after
// them are delivered (a retry loop on them would stop every delivery).
func TestHostileRecordsDoNotStopTheConsumer(t *testing.T) {
	e := startEnv(t, ssrf.Guard{AllowPrivate: true}, dispatch.Options{})
	r := newReceiver(t)
	e.register(t, "alice", r.URL, "*")
	vid := contract.NewID()
	for _, m := range []kafka.Message{
		{Topic: contract.TopicUploaded, Key: []byte(vid), Value: []byte(`{"video_id":"` + vid + `","owner":"al\u0000ice"}`)},
		{Topic: contract.TopicUploaded, Key: []byte(vid), Value: []byte(`{"video_id":"` + vid + `","owner":"alice"}`),
			Headers: []kafka.Header{{Key: contract.HeaderID, Value: []byte("bad\x00id")}}},
		{Topic: contract.TopicUploaded, Key: []byte(vid), Value: []byte(`not json`)},
		{Topic: contract.TopicTranscodeDLQ, Key: []byte("no-video"), Value: nil},
	} {
		e.k.Produce(t, m)
	}
	up := uploaded("alice")
	id := contract.UploadedEventID(up.VideoID)
	e.k.Produce(t, record(t, up, id))
	waitFor(t, "the good record after the hostile ones", func() bool { return r.count(id) == 1 })
	for _, d := range r.deliveries() {
		if strings.ContainsRune(d.Header.Get("webhook-id"), 0) {
			t.Errorf("webhook-id with a NUL byte: %q", d.Header.Get("webhook-id"))
		}
	}
}
