package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// readyFixture is a video taken through every stage by hand: its objects
// are in the bucket and its events applied to the projection.
type readyFixture struct {
	id       string
	uploaded contract.VideoUploaded
	ready    contract.VideoReady
	objects  map[string][]byte
}

func (e *env) put(tb testing.TB, key string, data []byte, ct string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.Objects.Put(ctx, key, bytes.NewReader(data), int64(len(data)), ct); err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}

func (e *env) apply(tb testing.TB, topic string, offset int64, ev contract.Event, headers ...contract.Header) {
	tb.Helper()
	value, err := contract.Encode(ev)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Status.Apply(ctx, projection.Record{Topic: topic, Partition: 0, Offset: offset, Value: value, Headers: headers}); err != nil {
		tb.Fatalf("apply %s: %v", topic, err)
	}
}

// mustUploadedEvent uploads the test clip as token and returns the event.
func (e *env) mustUploadedEvent(tb testing.TB, token, title string) contract.VideoUploaded {
	tb.Helper()
	resp, body := e.upload(tb, token, formPart{name: "title", data: []byte(title)}, formPart{name: "file", filename: "c.mp4", data: mustClip(tb)})
	acc := mustAccepted(tb, resp, body)
	for _, m := range e.Kafka.ReadAll(tb, contract.TopicUploaded, 1, 10*time.Second) {
		if string(m.Key) == acc.ID {
			ev, err := contract.Decode[contract.VideoUploaded](m.Value)
			if err != nil {
				tb.Fatal(err)
			}
			return ev
		}
	}
	tb.Fatalf("no record for %s", acc.ID)
	return contract.VideoUploaded{}
}

// mustReady takes an uploaded video to ready.
func (e *env) mustReady(tb testing.TB, up contract.VideoUploaded) readyFixture {
	tb.Helper()
	id := up.VideoID
	f := readyFixture{id: id, uploaded: up, objects: map[string][]byte{}}
	obj := func(key, ct string, data []byte) {
		e.put(tb, key, data, ct)
		f.objects[key] = data
	}
	obj(contract.RenditionKey(id, "360p"), "video/mp4", []byte("mp4 rendition bytes"))
	obj(contract.HLSMasterKey(id), "application/vnd.apple.mpegurl", []byte("#EXTM3U\n#EXT-X-VERSION:6\n"+
		"#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n"))
	obj(contract.HLSPrefix(id)+"360p/index.m3u8", "application/vnd.apple.mpegurl", []byte("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n"+
		"#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.000,\nseg_00000.ts\n#EXTINF:1.000,\nseg_00001.ts\n#EXT-X-ENDLIST\n"))
	obj(contract.HLSPrefix(id)+"360p/seg_00000.ts", "video/mp2t", []byte("segment zero"))
	obj(contract.HLSPrefix(id)+"360p/seg_00001.ts", "video/mp2t", []byte("segment one"))
	obj(contract.ThumbnailPrefix(id)+"poster.jpg", "image/jpeg", []byte("poster"))
	obj(contract.ThumbnailPrefix(id)+"small.jpg", "image/jpeg", []byte("small"))

	now := time.Now().UTC()
	media := contract.Media{DurationSeconds: 1, Width: 640, Height: 360, Format: "mov,mp4", VideoCodec: "h264"}
	rs := []contract.Rendition{{Name: "360p", Width: 640, Height: 360, Bitrate: 800000, Key: contract.RenditionKey(id, "360p"),
		Size: int64(len(f.objects[contract.RenditionKey(id, "360p")])), PlaylistKey: contract.HLSPrefix(id) + "360p/index.m3u8"}}
	tr := up.Transcoded(media, rs, contract.HLS{MasterKey: contract.HLSMasterKey(id)}, now)
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 640, Height: 360, Size: 6},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "small.jpg", Width: 320, Height: 180, Size: 5},
	}, now)
	f.ready = th.Ready(now)
	e.apply(tb, contract.TopicTranscoded, 0, tr)
	e.apply(tb, contract.TopicThumbnailed, 0, th)
	e.apply(tb, contract.TopicReady, 0, f.ready)
	return f
}

func getURL(tb testing.TB, u string) (int, []byte) {
	tb.Helper()
	resp, err := http.Get(u)
	if err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestGetVideoReady(t *testing.T) {
	e := mustEnv(t)
	f := e.mustReady(t, e.mustUploadedEvent(t, aliceToken, "Ready one"))

	resp, body := e.do(t, http.MethodGet, "/v1/videos/"+f.id, aliceToken, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	var v videoView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Status != "ready" || v.Title != "Ready one" || v.Media == nil || v.Media.Width != 640 || v.URLsExpireAt == nil || v.ReadyAt == nil {
		t.Fatalf("GET = %s", body)
	}
	if len(v.Renditions) != 1 || v.Thumbnails == nil || v.HLS == nil {
		t.Fatalf("GET = %s", body)
	}
	// Presigned URLs fetch the objects without a token.
	for u, key := range map[string]string{
		v.Renditions[0].URL:     contract.RenditionKey(f.id, "360p"),
		v.Thumbnails.Poster.URL: contract.ThumbnailPrefix(f.id) + "poster.jpg",
		v.Thumbnails.Small.URL:  contract.ThumbnailPrefix(f.id) + "small.jpg",
	} {
		code, got := getURL(t, u)
		if code != http.StatusOK || !bytes.Equal(got, f.objects[key]) {
			t.Errorf("presigned %s: %d %q", key, code, got)
		}
	}

	// HLS: the signed master leads to a signed media playlist whose
	// segments are presigned storage URLs.
	code, master := getURL(t, e.URL+strings.TrimPrefix(v.HLS.MasterURL, e.Opts.PublicURL))
	if code != http.StatusOK || !bytes.Contains(master, []byte("360p/index.m3u8?exp=")) {
		t.Fatalf("master: %d %s", code, master)
	}
	var mediaRef string
	for _, l := range strings.Split(string(master), "\n") {
		if strings.HasPrefix(l, "360p/") {
			mediaRef = l
		}
	}
	base, _ := url.Parse(e.URL + v.HLS.MasterURL)
	ref, _ := url.Parse(mediaRef)
	code, media := getURL(t, base.ResolveReference(ref).String())
	if code != http.StatusOK {
		t.Fatalf("media playlist: %d %s", code, media)
	}
	var segs []string
	for _, l := range strings.Split(string(media), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			segs = append(segs, l)
		}
	}
	if len(segs) != 2 || !strings.Contains(string(media), "#EXT-X-ENDLIST") {
		t.Fatalf("media playlist: %s", media)
	}
	for i, s := range segs {
		code, got := getURL(t, s)
		want := f.objects[contract.HLSPrefix(f.id)+fmt.Sprintf("360p/seg_%05d.ts", i)]
		if code != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("segment %d via %s: %d %q", i, s, code, got)
		}
	}

	// A tampered or expired signature is refused; a token works instead.
	tampered := strings.Replace(v.HLS.MasterURL, "sig=", "sig=00", 1)
	if code, _ := getURL(t, e.URL+tampered); code != http.StatusForbidden {
		t.Errorf("tampered signature: %d, want 403", code)
	}
	expired := hlsPath(f.id, "master.m3u8") + "?" + signHLS(e.Opts.SigningKey, f.id, time.Now().Add(-time.Minute))
	if code, _ := getURL(t, e.URL+expired); code != http.StatusForbidden {
		t.Errorf("expired signature: %d, want 403", code)
	}
	if resp, _ := e.do(t, http.MethodGet, hlsPath(f.id, "master.m3u8"), aliceToken, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("owner's token: %d, want 200", resp.StatusCode)
	}
	if resp, _ := e.do(t, http.MethodGet, hlsPath(f.id, "master.m3u8"), bobToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other user's token: %d, want 404", resp.StatusCode)
	}
	if resp, _ := e.do(t, http.MethodGet, hlsPath(f.id, "360p/seg_00000.ts"), aliceToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("segment through the API: %d, want 404", resp.StatusCode)
	}
}

func TestGetVideoNotFoundIsTheSameForOthers(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "Alice's")
	_, missing := e.do(t, http.MethodGet, "/v1/videos/"+newVideoID(), bobToken, nil, nil)
	resp, others := e.do(t, http.MethodGet, "/v1/videos/"+up.VideoID, bobToken, nil, nil)
	mustErrorCode(t, resp, others, http.StatusNotFound, codeNotFound)
	if !bytes.Equal(missing, others) {
		t.Errorf("another user's video answers %q, a missing one %q", others, missing)
	}
	resp, bad := e.do(t, http.MethodGet, "/v1/videos/not-a-uuid", bobToken, nil, nil)
	if resp.StatusCode != http.StatusNotFound || !bytes.Equal(bad, missing) {
		t.Errorf("malformed id answers %d %q", resp.StatusCode, bad)
	}
	if resp, _ := e.do(t, http.MethodGet, "/v1/videos/"+up.VideoID, "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, http.MethodGet, "/v1/videos/"+up.VideoID, aliceToken, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("owner: %d", resp.StatusCode)
	}
}

func TestGetVideoFailed(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "Doomed")
	value, _ := contract.Encode(up)
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Group: "transcode",
		Err: "ffprobe: moov atom not found", Class: contract.ErrorClassPermanent, Attempts: 1, FailedAt: time.Now()}
	ctx := context.Background()
	if err := e.Status.Apply(ctx, projection.Record{Topic: contract.TopicTranscodeDLQ, Partition: 0, Offset: 0, Value: value,
		Headers: dl.Headers(nil)}); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(t, http.MethodGet, "/v1/videos/"+up.VideoID, aliceToken, nil, nil)
	var v videoView
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	if v.Status != "failed" || v.Failure == nil || v.Failure.Stage != "transcode" || v.Failure.Class != "permanent" ||
		v.Failure.Code != contract.ErrorCodeInternal || strings.Contains(string(body), dl.Err) {
		t.Fatalf("GET = %s", body)
	}
}

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	id, event string
	data      []byte
}

// readSSE parses events from r into ch; comment lines go to comments.
func readSSE(r io.Reader, ch chan<- sseEvent, comments chan<- string) {
	defer close(ch)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cur sseEvent
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "":
			if cur.event != "" || cur.data != nil {
				ch <- cur
			}
			cur = sseEvent{}
		case strings.HasPrefix(l, ":"):
			select {
			case comments <- l:
			default:
			}
		case strings.HasPrefix(l, "id: "):
			cur.id = l[4:]
		case strings.HasPrefix(l, "event: "):
			cur.event = l[7:]
		case strings.HasPrefix(l, "data: "):
			cur.data = append(cur.data, l[6:]...)
		}
	}
}

func TestEventsStream(t *testing.T) {
	e := mustEnv(t, withOptions(func(o *Options) { o.SSEHeartbeat = 50 * time.Millisecond; o.SSEWait = 300 * time.Millisecond }))
	up := e.mustUploadedEvent(t, aliceToken, "Watched")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/v1/videos/"+up.VideoID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	evs := make(chan sseEvent, 16)
	comments := make(chan string, 16)
	go readSSE(resp.Body, evs, comments)
	next := func() (videoView, string) {
		t.Helper()
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatal("stream ended early")
			}
			var v videoView
			if ev.event != "status" || json.Unmarshal(ev.data, &v) != nil {
				t.Fatalf("event %+v", ev)
			}
			return v, ev.id
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return videoView{}, ""
	}
	v, id1 := next()
	if v.Status != "uploaded" || v.ID != up.VideoID {
		t.Fatalf("first event %+v", v)
	}
	select {
	case <-comments:
	case <-ctx.Done():
		t.Fatal("no heartbeat")
	}
	f := e.mustReady(t, up) // transcoded, thumbnailed, ready
	var last videoView
	var lastID string
	for last.Status != "ready" {
		last, lastID = next()
	}
	if last.HLS == nil || len(last.Renditions) != 1 || lastID == id1 {
		t.Fatalf("ready event %+v (id %s)", last, lastID)
	}
	// The stream ends after ready.
	select {
	case _, ok := <-evs:
		if ok {
			t.Fatal("event after ready")
		}
	case <-ctx.Done():
		t.Fatal("stream did not end after ready")
	}
	_ = f

	// Reconnecting past the final state: 204, EventSource stops.
	resp2, _ := e.do(t, http.MethodGet, "/v1/videos/"+up.VideoID+"/events", aliceToken, nil, map[string]string{"Last-Event-ID": lastID})
	if resp2.StatusCode != http.StatusNoContent {
		t.Errorf("reconnect after ready: %d, want 204", resp2.StatusCode)
	}
	// Someone else's video: 404, like a missing one.
	resp3, body3 := e.do(t, http.MethodGet, "/v1/videos/"+up.VideoID+"/events", bobToken, nil, nil)
	mustErrorCode(t, resp3, body3, http.StatusNotFound, codeNotFound)
	resp4, body4 := e.do(t, http.MethodGet, "/v1/videos/"+newVideoID()+"/events", bobToken, nil, nil)
	mustErrorCode(t, resp4, body4, http.StatusNotFound, codeNotFound)
	if !bytes.Equal(body3, body4) {
		t.Errorf("404 bodies differ: %s / %s", body3, body4)
	}
}

func TestSearch(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	var aliceIDs []string
	for _, doc := range []struct{ owner, title, desc string }{
		{"alice", "Cats playing piano", "two cats and a piano"},
		{"alice", "Cats at the beach", "sand and cats"},
		{"alice", "Dogs in the park", "no felines here"},
		{"bob", "Cats of Bob", "bob's cats"},
	} {
		up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
			VideoID: newVideoID(), Owner: doc.owner, Title: doc.title, Description: doc.desc,
			Source:     contract.SourceObject{Bucket: e.Bucket, Key: "uploads/x/source", Size: 1, ContentType: "video/mp4"},
			UploadedAt: time.Now().UTC(),
		}}
		up.Source.Key = contract.SourceKey(up.VideoID)
		id := up.VideoID
		rs := []contract.Rendition{{Name: "360p", Width: 640, Height: 360, Key: contract.RenditionKey(id, "360p"), Size: 1}}
		ready := up.Transcoded(contract.Media{DurationSeconds: 1, Width: 640, Height: 360}, rs, contract.HLS{MasterKey: contract.HLSMasterKey(id)}, time.Now()).
			Thumbnailed(contract.Thumbnails{Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "p.jpg", Width: 640, Height: 360, Size: 1},
				Small: contract.Image{Key: contract.ThumbnailPrefix(id) + "s.jpg", Width: 320, Height: 180, Size: 1}}, time.Now()).
			Ready(time.Now())
		if _, _, err := e.Catalog.Upsert(ctx, ready); err != nil {
			t.Fatal(err)
		}
		if doc.owner == "alice" {
			aliceIDs = append(aliceIDs, id)
		}
	}
	search := func(token, query string) (int, searchResponse, []byte) {
		t.Helper()
		resp, body := e.do(t, http.MethodGet, "/v1/videos?"+query, token, nil, nil)
		var sr searchResponse
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(body, &sr); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, sr, body
	}
	code, sr, body := search(aliceToken, "q=cats")
	if code != http.StatusOK || len(sr.Items) != 2 {
		t.Fatalf("alice cats: %d %s", code, body)
	}
	for _, it := range sr.Items {
		if !strings.Contains(it.Title, "Cats") || it.Status != "ready" || it.Thumbnails == nil || it.Thumbnails.Small.URL == "" {
			t.Errorf("item %+v", it)
		}
	}
	code, sr, body = search(bobToken, "q=cats")
	if code != http.StatusOK || len(sr.Items) != 1 || sr.Items[0].Title != "Cats of Bob" {
		t.Fatalf("bob cats: %d %s", code, body)
	}
	// Pagination over every match of alice's (a blank q lists the
	// library from the status projection instead: library_test.go).
	seen := map[string]bool{}
	query := "limit=2&q=" + url.QueryEscape("cats or dogs")
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		code, sr, body = search(aliceToken, query)
		if code != http.StatusOK {
			t.Fatalf("list: %d %s", code, body)
		}
		for _, it := range sr.Items {
			if seen[it.ID] {
				t.Fatalf("%s on two pages", it.ID)
			}
			seen[it.ID] = true
		}
		if sr.NextCursor == "" {
			break
		}
		query = "limit=2&q=" + url.QueryEscape("cats or dogs") + "&cursor=" + url.QueryEscape(sr.NextCursor)
	}
	if len(seen) != len(aliceIDs) {
		t.Fatalf("listed %d videos, alice has %d", len(seen), len(aliceIDs))
	}
	for name, q := range map[string]string{
		"limit zero":     "limit=0",
		"limit too big":  "limit=1000",
		"limit not int":  "limit=x",
		"garbage cursor": "q=cats&cursor=not-a-cursor",
		"long query":     "q=" + strings.Repeat("a", 600),
	} {
		resp, body := e.do(t, http.MethodGet, "/v1/videos?"+q, aliceToken, nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	if resp, _ := e.do(t, http.MethodGet, "/v1/videos?q=cats", "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
}
