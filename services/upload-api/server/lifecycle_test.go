package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// startLifecycleConsumer runs upload-api's video.deleted consumer
// (RemoveDeleted) in a group of its own, as the binary does.
func (e *env) startLifecycleConsumer(tb testing.TB) string {
	tb.Helper()
	group := harness.RandomName(contract.LifecycleGroup("upload-api"))
	c := projection.NewConsumer(config.Kafka{Brokers: e.Kafka.Brokers}, e.Status, e.Log, projection.WithGroup(group),
		projection.WithHandler([]string{contract.TopicDeleted}, RemoveDeleted(e.Log, e.Objects, e.Status, e.Tus)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	return group
}

// waitNoLag waits until group has consumed everything of topic.
func (e *env) waitNoLag(tb testing.TB, group, topic string) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for e.Kafka.Lag(tb, group, topic) != 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("group %s still has lag on %s", group, topic)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func keysUnder(keys []string, prefixes ...string) []string {
	var out []string
	for _, k := range keys {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out = append(out, k)
			}
		}
	}
	return out
}

func TestDeleteVideo(t *testing.T) {
	e := mustEnv(t, withConsumer())
	group := e.startLifecycleConsumer(t)
	clip := mustClip(t)
	resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "clip.mp4", data: clip})
	id := mustAccepted(t, resp, body).ID
	if u := e.usage(t, aliceToken).UsedBytes; u != int64(len(clip)) {
		t.Fatalf("usage before delete = %d, want %d", u, len(clip))
	}

	// Someone else's video answers like a missing one; so does an unknown id.
	resp, body = e.do(t, http.MethodDelete, "/v1/videos/"+id, bobToken, nil, nil)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	resp, body = e.do(t, http.MethodDelete, "/v1/videos/"+contract.NewID(), aliceToken, nil, nil)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)

	resp, body = e.do(t, http.MethodDelete, "/v1/videos/"+id, aliceToken, nil, nil)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(body), `"status":"deleted"`) {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, http.MethodGet, "/v1/videos/"+id, aliceToken, nil, nil)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	resp, body = e.do(t, http.MethodGet, "/v1/videos/"+id+"/events", aliceToken, nil, nil)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	if b, _ := e.object(t, contract.TombstoneKey(id)); !strings.Contains(string(b), `"video_id":"`+id+`"`) {
		t.Fatalf("tombstone holds %q", b)
	}
	if u := e.usage(t, aliceToken).UsedBytes; u != 0 {
		t.Fatalf("usage after delete = %d, want 0", u)
	}

	// Deleting again is accepted and announces the same event again.
	resp, body = e.do(t, http.MethodDelete, "/v1/videos/"+id, aliceToken, nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("second delete: %d %s", resp.StatusCode, body)
	}
	recs := e.Kafka.ReadAll(t, contract.TopicDeleted, 2, 30*time.Second)
	for _, m := range recs {
		ev, err := contract.Decode[contract.VideoDeleted](m.Value)
		if err != nil || string(m.Key) != id || ev.VideoID != id || ev.Owner != "alice" {
			t.Fatalf("video.deleted record: key %q, %+v, %v", m.Key, ev, err)
		}
	}
	if a, b := header(recs[0], contract.HeaderID), header(recs[1], contract.HeaderID); a == "" || a != b {
		t.Errorf("the two video.deleted records have ce_id %q and %q, want one id", a, b)
	}

	// The consumer removed the source; only the tombstone stays.
	e.waitNoLag(t, group, contract.TopicDeleted)
	if left := keysUnder(e.keys(t), "uploads/"+id+"/", "tus/uploads/"+id+"/", "videos/"+id+"/", "pending/uploads/"+id, "pending/deletes/"+id); len(left) != 0 {
		t.Fatalf("objects left after the delete: %v", left)
	}
	// A late pipeline event does not bring it back.
	if err := e.Status.Apply(context.Background(), lateRecord(t, id)); err != nil {
		t.Fatalf("apply a late event: %v", err)
	}
	resp, body = e.do(t, http.MethodGet, "/v1/videos/"+id, aliceToken, nil, nil)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
}

// lateRecord is a video.transcoded record of video id (owner alice), as
// the projection consumer hands it to Apply.
func lateRecord(tb testing.TB, id string) projection.Record {
	tb.Helper()
	up := uploadedEvent(id, "alice", "b", videoFields{Title: "late", Filename: "clip.mp4"}, 10, "video/mp4")
	tr := up.Transcoded(contract.Media{DurationSeconds: 1, Width: 160, Height: 120},
		[]contract.Rendition{{Name: "360p", Width: 160, Height: 120, Bitrate: 1, Key: contract.RenditionKey(id, "360p"), Size: 1}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, time.Now())
	value, err := contract.Encode(tr)
	if err != nil {
		tb.Fatal(err)
	}
	return projection.Record{Topic: contract.TopicTranscoded, Partition: 0, Offset: 1 << 40, Key: []byte(id), Value: value}
}

func TestDeleteUnfinishedTusUpload(t *testing.T) {
	e := mustEnv(t, withConsumer())
	group := e.startLifecycleConsumer(t)
	clip := mustClip(t)
	id := e.tusCreate(t, aliceToken, len(clip), map[string]string{"filename": "clip.mp4", "title": "half"})
	if resp, body := e.tusPatch(t, aliceToken, id, 0, clip[:len(clip)/2]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("tus patch: %d %s", resp.StatusCode, body)
	}
	if u := e.usage(t, aliceToken).UsedBytes; u == 0 {
		t.Fatal("the unfinished upload reserves nothing")
	}
	resp, body := e.do(t, http.MethodDelete, "/v1/videos/"+id, bobToken, nil, nil)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	resp, body = e.do(t, http.MethodDelete, "/v1/videos/"+id, aliceToken, nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.tusHead(t, aliceToken, id); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("tus HEAD after delete: %d, want 404", resp.StatusCode)
	}
	if u := e.usage(t, aliceToken).UsedBytes; u != 0 {
		t.Fatalf("usage after delete = %d, want 0 (reservation released)", u)
	}
	e.waitNoLag(t, group, contract.TopicDeleted)
	// Only the tombstone is left: no part, no info, no unfinished multipart upload.
	if err := e.Objects.Remove(context.Background(), contract.TombstoneKey(id)); err != nil {
		t.Fatal(err)
	}
	e.mustEmptyBucket(t)
}

func TestPatchVideo(t *testing.T) {
	e := mustEnv(t, withConsumer())
	clip := mustClip(t)
	resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "clip.mp4", data: clip},
		formPart{name: "title", data: []byte("Old title")}, formPart{name: "description", data: []byte("old")})
	up := mustAccepted(t, resp, body)
	path := "/v1/videos/" + up.ID
	js := map[string]string{"Content-Type": "application/json"}
	patch := func(token, body string, h map[string]string) (*http.Response, []byte) {
		return e.do(t, http.MethodPatch, path, token, bytes.NewReader([]byte(body)), h)
	}
	for name, c := range map[string]struct {
		body   string
		header map[string]string
		status int
		code   string
	}{
		"not JSON":        {`title=x`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType, codeUnsupportedContent},
		"no content type": {`{"title":"x"}`, nil, http.StatusUnsupportedMediaType, codeUnsupportedContent},
		"malformed":       {`{"title":`, js, http.StatusBadRequest, codeBadRequest},
		"array":           {`["x"]`, js, http.StatusBadRequest, codeBadRequest},
		"empty title":     {`{"title":"  "}`, js, http.StatusBadRequest, codeInvalidField},
		"null title":      {`{"title":null}`, js, http.StatusBadRequest, codeInvalidField},
		"title too long":  {`{"title":"` + strings.Repeat("a", contract.MaxTitleLen+1) + `"}`, js, http.StatusBadRequest, codeInvalidField},
		"bidi control":    {`{"title":"abc\u202Edef"}`, js, http.StatusBadRequest, codeInvalidField},
		"tags not array":  {`{"tags":"a,b"}`, js, http.StatusBadRequest, codeInvalidField},
		"too many tags":   {`{"tags":[` + strings.TrimSuffix(patchTags(contract.MaxTags+1), ",") + `]}`, js, http.StatusBadRequest, codeInvalidField},
		"unknown field":   {`{"owner":"bob"}`, js, http.StatusBadRequest, codeUnknownField},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := patch(aliceToken, c.body, c.header)
			mustErrorCode(t, resp, body, c.status, c.code)
		})
	}
	resp, body = patch(bobToken, `{"title":"mine"}`, js)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)

	resp, body = patch(aliceToken, `{"title":" New title ","tags":["surf","Surf","sea"]}`, js)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("patch: %d %s", resp.StatusCode, body)
	}
	var v videoView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Title != "New title" || v.Description != "old" || strings.Join(v.Tags, ",") != "surf,sea" {
		t.Fatalf("patched document: title %q description %q tags %v", v.Title, v.Description, v.Tags)
	}
	resp, body = e.do(t, http.MethodGet, path, aliceToken, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"title":"New title"`) {
		t.Fatalf("GET after patch: %d %s", resp.StatusCode, body)
	}
	// Clearing the description keeps the rest.
	resp, body = patch(aliceToken, `{"description":null}`, js)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"description"`) || !strings.Contains(string(body), `"title":"New title"`) {
		t.Fatalf("patch description: %d %s", resp.StatusCode, body)
	}
	recs := e.Kafka.ReadAll(t, contract.TopicUpdated, 2, 30*time.Second)
	last, err := contract.Decode[contract.VideoUpdated](recs[1].Value)
	if err != nil || string(recs[1].Key) != up.ID || last.Title != "New title" || last.Description != "" || !last.UpdatedAt.After(time.Time{}) {
		t.Fatalf("video.updated: key %q %+v %v", recs[1].Key, last, err)
	}
	first, _ := contract.Decode[contract.VideoUpdated](recs[0].Value)
	if !last.UpdatedAt.After(first.UpdatedAt) {
		t.Errorf("updated_at does not grow: %v then %v", first.UpdatedAt, last.UpdatedAt)
	}
	// A deleted video cannot be edited.
	if resp, body := e.do(t, http.MethodDelete, path, aliceToken, nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	resp, body = patch(aliceToken, `{"title":"after"}`, js)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
}

func patchTags(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(`"t` + strings.Repeat("x", i) + `",`)
	}
	return b.String()
}

// TestSearchLeavesOutDeletedVideos: until the indexer has consumed
// video.deleted the catalog still has the row; search leaves it out at
// once.
func TestSearchLeavesOutDeletedVideos(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	clip := mustClip(t)
	resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "clip.mp4", data: clip},
		formPart{name: "title", data: []byte("Quokka selfie")})
	id := mustAccepted(t, resp, body).ID
	st, err := e.Status.Get(ctx, "alice", id)
	if err != nil {
		t.Fatal(err)
	}
	up := *st.Uploaded
	tr := up.Transcoded(contract.Media{DurationSeconds: 1, Width: 160, Height: 120},
		[]contract.Rendition{{Name: "360p", Width: 160, Height: 120, Bitrate: 1, Key: contract.RenditionKey(id, "360p"), Size: 1}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, time.Now())
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 160, Height: 120, Size: 1},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "thumb.jpg", Width: 160, Height: 120, Size: 1},
	}, time.Now())
	if _, _, err := e.Catalog.Upsert(ctx, th.Ready(time.Now().UTC().Truncate(time.Microsecond))); err != nil {
		t.Fatal(err)
	}
	if _, body := e.do(t, http.MethodGet, "/v1/videos?q=quokka", aliceToken, nil, nil); !strings.Contains(string(body), id) {
		t.Fatalf("search before the delete does not find the video: %s", body)
	}
	if resp, body := e.do(t, http.MethodDelete, "/v1/videos/"+id, aliceToken, nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, http.MethodGet, "/v1/videos?q=quokka", aliceToken, nil, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), id) {
		t.Fatalf("search after the delete: %d %s", resp.StatusCode, body)
	}
}

// TestTusUploadFinishedAfterItsDelete: the last PATCH of a tus upload lands
// after the video was deleted (a DELETE that raced it, whose termination
// did not get the upload): nothing is announced and the upload's objects
// are removed.
func TestTusUploadFinishedAfterItsDelete(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	id := e.tusCreate(t, aliceToken, len(clip), map[string]string{"filename": "clip.mp4"})
	if resp, body := e.tusPatch(t, aliceToken, id, 0, clip[:len(clip)/2]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("tus patch: %d %s", resp.StatusCode, body)
	}
	if _, err := e.Status.MarkDeleted(context.Background(), "alice", id, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, body := e.tusPatch(t, aliceToken, id, int64(len(clip)/2), clip[len(clip)/2:])
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("last PATCH after the delete: %d %s, want 404", resp.StatusCode, body)
	}
	if left := keysUnder(e.keys(t), "uploads/"+id+"/", "tus/uploads/"+id+"/"); len(left) != 0 {
		t.Fatalf("objects left: %v", left)
	}
	if n := len(e.Kafka.ReadAll(t, contract.TopicUploaded, 0, 500*time.Millisecond)); n != 0 {
		t.Fatalf("%d video.uploaded records for a deleted video, want 0", n)
	}
}

// TestSweepAnnouncesAPendingDelete: a DELETE whose video.deleted was not
// acknowledged leaves its marker; the recovery sweep publishes the event
// and removes the marker.
func TestSweepAnnouncesAPendingDelete(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	id := contract.NewID()
	ev := contract.VideoDeleted{SchemaVersion: contract.SchemaVersion, VideoID: id, Owner: "alice", DeletedAt: time.Now().UTC()}
	b, err := contract.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Objects.Put(ctx, pendingDeleteKey(id), bytes.NewReader(b), int64(len(b)), "application/json"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.recovery().Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: settled %d, err %v; want 1", n, err)
	}
	recs := e.Kafka.ReadAll(t, contract.TopicDeleted, 1, 30*time.Second)
	if got, err := contract.Decode[contract.VideoDeleted](recs[0].Value); err != nil || got.VideoID != id || string(recs[0].Key) != id {
		t.Fatalf("video.deleted: %+v %v", got, err)
	}
	if left := keysUnder(e.keys(t), pendingDeletesPrefix); len(left) != 0 {
		t.Fatalf("markers left: %v", left)
	}
}

// TestEventStreamEndsOnDelete: an open event stream gets the edit (PATCH)
// as a status event and ends when the video is deleted.
func TestEventStreamEndsOnDelete(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "clip.mp4", data: clip})
	id := mustAccepted(t, resp, body).ID
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/v1/videos/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	evs := make(chan sseEvent, 16)
	go readSSE(stream.Body, evs, make(chan string, 16))
	next := func() (sseEvent, bool) {
		select {
		case ev, ok := <-evs:
			return ev, ok
		case <-ctx.Done():
			t.Fatal("the stream neither sent an event nor ended")
			return sseEvent{}, false
		}
	}
	if ev, ok := next(); !ok || ev.event != "status" {
		t.Fatalf("first event %+v (open %v)", ev, ok)
	}
	if resp, body := e.do(t, http.MethodPatch, "/v1/videos/"+id, aliceToken, strings.NewReader(`{"title":"Streamed edit"}`),
		map[string]string{"Content-Type": "application/json"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("patch: %d %s", resp.StatusCode, body)
	}
	if ev, ok := next(); !ok || !strings.Contains(string(ev.data), `"title":"Streamed edit"`) {
		t.Fatalf("event after the edit: %+v (open %v)", ev, ok)
	}
	if resp, body := e.do(t, http.MethodDelete, "/v1/videos/"+id, aliceToken, nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if ev, ok := next(); ok {
		t.Fatalf("the stream went on after the delete: %+v", ev)
	}
}
