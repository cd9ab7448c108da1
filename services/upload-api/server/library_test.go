package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// uploadedEvent returns a valid video.uploaded of a new video of owner.
func (e *env) uploadedEvent(owner, title string) contract.VideoUploaded {
	id := newVideoID()
	return contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: owner, Title: title,
		Source:     contract.SourceObject{Bucket: e.Bucket, Key: contract.SourceKey(id), Size: 1, ContentType: "video/mp4", Filename: title + ".mp4"},
		UploadedAt: time.Now().UTC(),
	}}
}

// applyDeadLetter fails up at stage transcode (a dead letter of its
// video.uploaded) in the projection.
func (e *env) applyDeadLetter(tb testing.TB, up contract.VideoUploaded, reason string) {
	tb.Helper()
	value, err := contract.Encode(up)
	if err != nil {
		tb.Fatal(err)
	}
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Group: "transcode",
		Err: reason, Class: contract.ErrorClassPermanent, Code: contract.ErrorCodeCorruptMedia, Attempts: 1, FailedAt: time.Now()}
	if err := e.Status.Apply(context.Background(), projection.Record{Topic: contract.TopicTranscodeDLQ, Partition: 0, Offset: 0,
		Value: value, Headers: dl.Headers(nil)}); err != nil {
		tb.Fatal(err)
	}
}

// list GETs /v1/videos?query as token and decodes a 200.
func (e *env) list(tb testing.TB, token, query string) searchResponse {
	tb.Helper()
	resp, body := e.do(tb, http.MethodGet, "/v1/videos?"+query, token, nil, nil)
	var sr searchResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &sr) != nil {
		tb.Fatalf("GET /v1/videos?%s: %d %s", query, resp.StatusCode, body)
	}
	return sr
}

// listAll follows next_cursor from the first page of /v1/videos?query and
// returns every item, failing on an id listed twice.
func (e *env) listAll(tb testing.TB, token, query string, limit int) []videoView {
	tb.Helper()
	var all []videoView
	seen := map[string]bool{}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	extra, _ := url.ParseQuery(query)
	for k, v := range extra {
		q[k] = v
	}
	for pages := 0; ; pages++ {
		if pages > 50 {
			tb.Fatal("too many pages")
		}
		sr := e.list(tb, token, q.Encode())
		if len(sr.Items) > limit {
			tb.Fatalf("page of %d items, limit %d", len(sr.Items), limit)
		}
		for _, it := range sr.Items {
			if seen[it.ID] {
				tb.Fatalf("%s listed twice", it.ID)
			}
			seen[it.ID] = true
			all = append(all, it)
		}
		if sr.NextCursor == "" {
			return all
		}
		if len(sr.Items) != limit {
			tb.Fatalf("a page of %d items (limit %d) has a next cursor", len(sr.Items), limit)
		}
		q.Set("cursor", sr.NextCursor)
	}
}

// TestLibraryListsEveryState: GET /v1/videos without q lists the caller's
// videos from the status projection in every status, newest first, the
// deleted one left out; pages of 2 neither repeat nor skip a video; bob
// sees none of alice's; status filters; q still searches the catalog.
func TestLibraryListsEveryState(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	now := time.Now()
	var order []string // alice's listed videos, oldest first
	want := map[string]string{}
	add := func(up contract.VideoUploaded, status string) {
		order = append(order, up.VideoID)
		want[up.VideoID] = status
	}

	uploaded := e.uploadedEvent("alice", "uploaded")
	e.apply(t, contract.TopicUploaded, 0, uploaded)
	add(uploaded, "uploaded")

	playable := e.uploadedEvent("alice", "playable")
	e.apply(t, contract.TopicUploaded, 0, playable)
	e.apply(t, contract.TopicPlayable, 0, playableEvent(playable))
	add(playable, "playable")

	media := contract.Media{DurationSeconds: 1, Width: 640, Height: 360}
	transcoded := e.uploadedEvent("alice", "transcoded")
	rs := []contract.Rendition{{Name: "360p", Width: 640, Height: 360, Key: contract.RenditionKey(transcoded.VideoID, "360p"), Size: 1}}
	e.apply(t, contract.TopicUploaded, 0, transcoded)
	e.apply(t, contract.TopicTranscoded, 0, transcoded.Transcoded(media, rs, contract.HLS{MasterKey: contract.HLSMasterKey(transcoded.VideoID)}, now))
	add(transcoded, "transcoded")

	failed := e.uploadedEvent("alice", "failed")
	e.apply(t, contract.TopicUploaded, 0, failed)
	e.applyDeadLetter(t, failed, "ffprobe: moov atom not found")
	add(failed, "failed")

	ready := e.uploadedEvent("alice", "ready")
	e.apply(t, contract.TopicUploaded, 0, ready)
	readyFixture := e.mustReady(t, ready)
	add(ready, "ready")

	deleted := e.uploadedEvent("alice", "deleted")
	e.apply(t, contract.TopicUploaded, 0, deleted)
	if _, err := e.Status.MarkDeleted(ctx, "alice", deleted.VideoID, time.Now()); err != nil {
		t.Fatal(err)
	}
	// A video deleted before the projection saw it (an unfinished tus
	// upload) leaves a tombstone only: not listed either.
	if _, err := e.Status.MarkDeleted(ctx, "alice", newVideoID(), time.Now()); err != nil {
		t.Fatal(err)
	}

	bobs := e.uploadedEvent("bob", "bob's")
	e.apply(t, contract.TopicUploaded, 0, bobs)

	for _, limit := range []int{2, 5, 100} {
		items := e.listAll(t, aliceToken, "", limit)
		var got []string
		for _, it := range items {
			got = append(got, it.ID)
			if it.Status != want[it.ID] {
				t.Errorf("limit %d: %s (%s) has status %q, want %q", limit, it.ID, it.Title, it.Status, want[it.ID])
			}
		}
		newestFirst := slices.Clone(order)
		slices.Reverse(newestFirst)
		if !slices.Equal(got, newestFirst) {
			t.Fatalf("limit %d: listed %v, want newest first %v", limit, got, newestFirst)
		}
	}
	items := e.listAll(t, aliceToken, "", 100)
	byID := map[string]videoView{}
	for _, it := range items {
		byID[it.ID] = it
	}
	// Each item is the video's own view (GET /v1/videos/{id}).
	if v := byID[failed.VideoID]; v.Failure == nil || v.Failure.Code != contract.ErrorCodeCorruptMedia || v.Failure.Message == "" {
		t.Errorf("failed item without its failure: %+v", v)
	}
	if v := byID[playable.VideoID]; v.HLS == nil || v.HLS.MasterURL == "" {
		t.Errorf("playable item without hls: %+v", v)
	}
	if v := byID[ready.VideoID]; len(v.Renditions) != 1 || v.Thumbnails == nil || v.Thumbnails.Poster.URL == "" || v.Media == nil {
		t.Errorf("ready item without renditions, thumbnails or media: %+v", v)
	}
	if v := byID[uploaded.VideoID]; v.Title != "uploaded" || v.Filename != "uploaded.mp4" || v.UploadedAt == nil {
		t.Errorf("uploaded item: %+v", v)
	}

	// Bob sees his own only.
	bobItems := e.listAll(t, bobToken, "", 2)
	if len(bobItems) != 1 || bobItems[0].ID != bobs.VideoID {
		t.Fatalf("bob's library: %+v", bobItems)
	}
	// alice's cursor used by bob lists nothing of alice's.
	first := e.list(t, aliceToken, "limit=1")
	if sr := e.list(t, bobToken, "limit=1&cursor="+url.QueryEscape(first.NextCursor)); len(sr.Items) != 0 {
		t.Errorf("bob with alice's cursor got %+v", sr.Items)
	}

	// Status filter.
	if got := e.listAll(t, aliceToken, "status=failed", 2); len(got) != 1 || got[0].ID != failed.VideoID {
		t.Errorf("status=failed: %+v", got)
	}
	if got := e.listAll(t, aliceToken, "status=ready", 2); len(got) != 1 || got[0].ID != ready.VideoID {
		t.Errorf("status=ready: %+v", got)
	}

	// Bad requests: 400 with a reason.
	for name, q := range map[string]string{
		"limit zero":         "limit=0",
		"limit too big":      "limit=101",
		"limit not int":      "limit=x",
		"garbage cursor":     "cursor=not-a-cursor",
		"unknown status":     "status=exploded",
		"cursor of a filter": "status=failed&cursor=" + url.QueryEscape(first.NextCursor),
		"status with q":      "q=cats&status=ready",
	} {
		resp, body := e.do(t, http.MethodGet, "/v1/videos?"+q, aliceToken, nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, resp.StatusCode, body)
			continue
		}
		mustErrorCode(t, resp, body, http.StatusBadRequest, codeInvalidQuery)
	}

	// With q it is still the catalog's full-text search (what the
	// indexer wrote: ready videos only).
	if sr := e.list(t, aliceToken, "q=ready"); len(sr.Items) != 0 {
		t.Errorf("q=ready found %d items before the catalog holds any", len(sr.Items))
	}
	if _, _, err := e.Catalog.Upsert(ctx, readyFixture.ready); err != nil {
		t.Fatal(err)
	}
	if sr := e.list(t, aliceToken, "q=ready"); len(sr.Items) != 1 || sr.Items[0].ID != ready.VideoID {
		t.Errorf("q=ready: %+v", sr.Items)
	}
}
