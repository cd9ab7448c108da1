package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

func (e *env) post(tb testing.TB, path, token string) (*http.Response, actionResponse, []byte) {
	tb.Helper()
	resp, body := e.do(tb, http.MethodPost, path, token, nil, nil)
	var ar actionResponse
	if resp.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal(body, &ar); err != nil {
			tb.Fatalf("POST %s: %d %s: %v", path, resp.StatusCode, body, err)
		}
	}
	return resp, ar, body
}

// uploadedOf returns the video.uploaded records of id on the topic.
func (e *env) uploadedOf(tb testing.TB, id string, want int) []kafka.Message {
	tb.Helper()
	var out []kafka.Message
	for _, m := range e.Kafka.ReadAll(tb, contract.TopicUploaded, want, 10*time.Second) {
		if string(m.Key) == id {
			out = append(out, m)
		}
	}
	return out
}

// TestReprocessAcceptsOneAtATime: a ready video's reprocess publishes a
// video.uploaded of generation 1 (derived ce_id); a second one is refused
// while the first has not reached the projection and while it runs; a
// video that is neither ready nor failed is refused, another user's video
// is not found; after a failed reprocess a new one gets generation 2.
func TestReprocessAcceptsOneAtATime(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "Again")
	id := up.VideoID
	e.apply(t, contract.TopicUploaded, 0, up)

	resp, _, body := e.post(t, "/v1/videos/"+id+"/reprocess", aliceToken)
	mustErrorCode(t, resp, body, http.StatusConflict, codeConflict)
	if !strings.Contains(string(body), "only a ready or failed video") {
		t.Errorf("reprocess of an uploaded video: %s", body)
	}
	e.mustReady(t, up)
	resp, _, body = e.post(t, "/v1/videos/"+id+"/reprocess", bobToken)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	resp, _, body = e.post(t, "/v1/videos/"+contract.NewID()+"/reprocess", aliceToken)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)

	resp, ar, body := e.post(t, "/v1/videos/"+id+"/reprocess", aliceToken)
	if resp.StatusCode != http.StatusAccepted || ar.Generation != 1 || ar.ID != id || ar.Status != "ready" {
		t.Fatalf("reprocess: %d %s, want 202 generation 1", resp.StatusCode, body)
	}
	recs := e.uploadedOf(t, id, 2)
	if len(recs) != 2 {
		t.Fatalf("video.uploaded records of %s: %d, want the upload's and the reprocess's", id, len(recs))
	}
	gen1, err := contract.Decode[contract.VideoUploaded](recs[1].Value)
	if err != nil || gen1.Generation != 1 || gen1.Title != "Again" || gen1.Source != up.Source {
		t.Fatalf("reprocess event: %+v, %v; want generation 1 of the same upload", gen1, err)
	}
	if got := header(recs[1], contract.HeaderID); got != contract.GenerationEventID(id, 1) {
		t.Errorf("reprocess ce_id = %s, want GenerationEventID(id, 1) %s", got, contract.GenerationEventID(id, 1))
	}
	// A double click: the projection has not seen generation 1 yet.
	resp, _, body = e.post(t, "/v1/videos/"+id+"/reprocess", aliceToken)
	mustErrorCode(t, resp, body, http.StatusConflict, codeConflict)
	// The projection sees it: still running.
	e.apply(t, contract.TopicUploaded, 1, gen1)
	v := e.getView(t, id, aliceToken)
	if v.Status != "ready" || v.Generation != 0 || v.Reprocessing == nil || v.Reprocessing.Generation != 1 || v.Reprocessing.State != "uploaded" ||
		v.HLS == nil || strings.Contains(v.HLS.MasterURL, "?g=") {
		t.Fatalf("while reprocessing: %+v, want ready on generation 0 with reprocessing generation 1 uploaded", v)
	}
	resp, _, body = e.post(t, "/v1/videos/"+id+"/reprocess", aliceToken)
	mustErrorCode(t, resp, body, http.StatusConflict, codeConflict)
	if !strings.Contains(string(body), "already running") {
		t.Errorf("second reprocess: %s", body)
	}
	if n := len(e.uploadedOf(t, id, 2)); n != 2 {
		t.Fatalf("after refused reprocesses: %d video.uploaded records of the video, want 2", n)
	}

	// Generation 1 fails: the video stays ready, the failure shows in
	// reprocessing, and a new reprocess is generation 2.
	value, err := contract.Encode(gen1)
	if err != nil {
		t.Fatal(err)
	}
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Group: "transcode",
		Err: "probe: invalid data", Class: contract.ErrorClassPermanent, Code: contract.ErrorCodeUnsupportedFormat, Attempts: 1, FailedAt: time.Now()}
	e.applyRecord(t, contract.TopicTranscodeDLQ, 0, []byte(id), value, dl.Headers(nil))
	v = e.getView(t, id, aliceToken)
	if v.Status != "ready" || v.Reprocessing == nil || v.Reprocessing.State != "failed" || v.Reprocessing.Failure == nil ||
		v.Reprocessing.Failure.Code != contract.ErrorCodeUnsupportedFormat || v.Failure != nil || v.Renditions == nil {
		t.Fatalf("after generation 1 failed: %+v, want ready with reprocessing failed (unsupported_format)", v)
	}
	resp, ar, body = e.post(t, "/v1/videos/"+id+"/reprocess", aliceToken)
	if resp.StatusCode != http.StatusAccepted || ar.Generation != 2 {
		t.Fatalf("reprocess after a failed one: %d %s, want 202 generation 2", resp.StatusCode, body)
	}
}

// TestRetryRefusals: retry answers 404 for another user's video and 409
// for a video that is not failed or has no dead letter left.
func TestRetryRefusals(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "Retry me")
	id := up.VideoID
	e.apply(t, contract.TopicUploaded, 0, up)
	resp, _, body := e.post(t, "/v1/videos/"+id+"/retry", aliceToken)
	mustErrorCode(t, resp, body, http.StatusConflict, codeConflict)
	resp, _, body = e.post(t, "/v1/videos/"+id+"/retry", bobToken)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)

	// Failed in the projection, but its dead letter is not in Kafka (or
	// was redriven already): nothing to redrive.
	value, err := contract.Encode(up)
	if err != nil {
		t.Fatal(err)
	}
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Group: "transcode",
		Err: "source missing: x", Class: contract.ErrorClassPermanent, Code: contract.ErrorCodeSourceMissing, Attempts: 1, FailedAt: time.Now()}
	e.applyRecord(t, contract.TopicTranscodeDLQ, 0, []byte(id), value, dl.Headers(nil))
	resp, _, body = e.post(t, "/v1/videos/"+id+"/retry", aliceToken)
	mustErrorCode(t, resp, body, http.StatusConflict, codeConflict)
	if !strings.Contains(string(body), "no dead letter") {
		t.Errorf("retry without a dead letter: %s", body)
	}

	// The dead letter in Kafka: one retry redrives it, a second finds
	// nothing left.
	msg, err := stage.NewMessage(up, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	var orig []contract.Header
	for _, h := range msg.Headers {
		orig = append(orig, contract.Header{Key: h.Key, Value: h.Value})
	}
	hs := dl.Headers(orig)
	khs := make([]kafka.Header, len(hs))
	for i, h := range hs {
		khs[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	e.Kafka.Produce(t, kafka.Message{Topic: contract.TopicTranscodeDLQ, Key: []byte(id), Value: value, Headers: khs})
	resp, ar, body := e.post(t, "/v1/videos/"+id+"/retry", aliceToken)
	if resp.StatusCode != http.StatusAccepted || ar.Redriven != 1 || ar.Status != "failed" {
		t.Fatalf("retry: %d %s, want 202 with one dead letter redriven", resp.StatusCode, body)
	}
	resp, _, body = e.post(t, "/v1/videos/"+id+"/retry", aliceToken)
	mustErrorCode(t, resp, body, http.StatusConflict, codeConflict)
	var redriven []kafka.Message
	for _, m := range e.uploadedOf(t, id, 2) {
		if header(m, contract.HeaderRedriveCount) == "1" {
			redriven = append(redriven, m)
		}
	}
	if len(redriven) != 1 || string(redriven[0].Value) != string(value) {
		t.Fatalf("redriven video.uploaded records: %d, want 1 with the original value", len(redriven))
	}
}

// applyRecord applies a raw record (a dead letter) to the projection.
func (e *env) applyRecord(tb testing.TB, topic string, offset int64, key, value []byte, headers []contract.Header) {
	tb.Helper()
	if err := e.Status.Apply(tb.Context(), projection.Record{Topic: topic, Partition: 0, Offset: offset, Key: key, Value: value, Headers: headers}); err != nil {
		tb.Fatalf("apply %s: %v", topic, err)
	}
}

// TestSignHLSGeneration: a generation's signed query names it ("g") and
// signs it: changing or dropping g breaks the signature; generation 0's
// query is the one of before generations.
func TestSignHLSGeneration(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	id := "6f1c2b9e-3a7d-4c1e-9b2a-0d3e4f5a6b7c"
	now := time.Unix(1_800_000_000, 0)
	if signHLSGeneration(key, id, 0, now) != signHLS(key, id, now) {
		t.Fatal("generation 0 is not signed as before generations")
	}
	q, _ := url.ParseQuery(signHLSGeneration(key, id, 3, now.Add(time.Hour)))
	if q.Get("g") != "3" {
		t.Fatalf("signed query %v has no g=3", q)
	}
	with := func(k, v string) url.Values {
		c := url.Values{}
		for kk, vv := range q {
			c[kk] = vv
		}
		if v == "" {
			c.Del(k)
		} else {
			c.Set(k, v)
		}
		return c
	}
	for name, tc := range map[string]struct {
		q    url.Values
		want bool
	}{
		"valid":            {q, true},
		"other generation": {with("g", "2"), false},
		"no generation":    {with("g", ""), false},
		"leading zero":     {with("g", "03"), false},
		"not a number":     {with("g", "x"), false},
		"expired":          {with("exp", "1"), false},
	} {
		if got := verifyHLS(key, id, tc.q, now); got != tc.want {
			t.Errorf("%s: verifyHLS = %v, want %v", name, got, tc.want)
		}
	}
}

// TestHLSServesTheSignedGeneration: a signed URL of generation 1 serves
// generation 1's package (videos/{id}/g1/hls/), generation 0's serves
// generation 0's, while both exist.
func TestHLSServesTheSignedGeneration(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "Two packages")
	id := up.VideoID
	e.apply(t, contract.TopicUploaded, 0, up)
	e.mustReady(t, up)
	g1 := contract.Outputs{VideoID: id, Generation: 1}
	pl := "application/vnd.apple.mpegurl"
	e.put(t, g1.HLSMasterKey(), []byte("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=64x36\n360p/index.m3u8\n"), pl)
	e.put(t, g1.HLSPrefix()+"360p/index.m3u8", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\nseg_00000.ts\n#EXT-X-ENDLIST\n"), pl)
	e.put(t, g1.HLSPrefix()+"360p/seg_00000.ts", []byte("generation one"), "video/mp2t")
	exp := time.Now().Add(time.Hour)
	for gen, want := range map[int]string{0: "segment zero", 1: "generation one"} {
		sig := signHLSGeneration(e.Opts.SigningKey, id, gen, exp)
		code, master := getURL(t, e.URL+hlsPath(id, "master.m3u8")+"?"+sig)
		if code != http.StatusOK || !strings.Contains(string(master), "360p/index.m3u8?"+sig) {
			t.Fatalf("generation %d master: %d %s", gen, code, master)
		}
		code, media := getURL(t, e.URL+hlsPath(id, "360p/index.m3u8")+"?"+sig)
		var seg string
		for _, l := range strings.Split(string(media), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") && seg == "" {
				seg = l
			}
		}
		if code != http.StatusOK || seg == "" {
			t.Fatalf("generation %d media playlist: %d %s", gen, code, media)
		}
		if code, got := getURL(t, seg); code != http.StatusOK || string(got) != want {
			t.Errorf("generation %d segment: %d %q, want %q", gen, code, got, want)
		}
	}
}

// TestRetrySelect: a retry of generation g redrives the stage's dead
// letters of its input and work topics of generation g (and those whose
// value was moved out of Kafka), not those of another generation or of
// another topic (the GC consumer's video.ready).
func TestRetrySelect(t *testing.T) {
	id := "6f1c2b9e-3a7d-4c1e-9b2a-0d3e4f5a6b7c"
	value := func(gen int) []byte {
		b, _ := json.Marshal(map[string]any{"video_id": id, "generation": gen})
		return b
	}
	rec := func(topic string, v []byte, ref string) dlq.Record {
		return dlq.Record{Key: id, Value: v, DeadLetter: contract.DeadLetter{Stage: contract.StageTranscode, Topic: topic, ValueRef: ref}}
	}
	sel := retrySelect(contract.DefaultPipeline(), contract.StageTranscode, 1)
	for name, tc := range map[string]struct {
		r    dlq.Record
		want bool
	}{
		"input of generation 1":        {rec(contract.TopicUploaded, value(1), ""), true},
		"work item of generation 1":    {rec(contract.TopicTranscodeChunks, value(1), ""), true},
		"input of generation 0":        {rec(contract.TopicUploaded, value(0), ""), false},
		"input of generation 2":        {rec(contract.TopicUploaded, value(2), ""), false},
		"gc dead letter (video.ready)": {rec(contract.TopicReady, value(1), ""), false},
		"value moved out of Kafka":     {rec(contract.TopicUploaded, nil, "s3://b/k"), true},
		"no dlq.topic":                 {rec("", value(1), ""), true},
		"undecodable value":            {rec(contract.TopicUploaded, []byte("{"), ""), false},
	} {
		if got := sel(tc.r); got != tc.want {
			t.Errorf("%s: selected = %v, want %v", name, got, tc.want)
		}
	}
}

// TestRetryRedrivesWorkItems: a video failed by a transcode work item's
// dead letter (key "<id>/v00002") is retried by redriving that item to
// video.transcode.chunks with its key and the redrive headers.
func TestRetryRedrivesWorkItems(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "Chunky")
	id := up.VideoID
	e.apply(t, contract.TopicUploaded, 0, up)
	run := contract.DeriveID("run", id)
	item := contract.TranscodeChunk{SchemaVersion: contract.SchemaVersion, Video: up.Video, Run: run, Kind: contract.ChunkVideo,
		Index: 2, Chunks: 3, PlanKey: contract.ChunkWorkPrefix(id, run) + "plan.json"}
	msg, err := stage.NewMessage(item, "transcode", "")
	if err != nil {
		t.Fatal(err)
	}
	var orig []contract.Header
	for _, h := range msg.Headers {
		orig = append(orig, contract.Header{Key: h.Key, Value: h.Value})
	}
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicTranscodeChunks, Group: contract.GroupTranscodeChunks,
		Err: "ffmpeg: killed", Class: contract.ErrorClassExhausted, Code: contract.ErrorCodeInternal, Attempts: 5, FailedAt: time.Now()}
	hs := dl.Headers(orig)
	e.applyRecord(t, contract.TopicTranscodeDLQ, 0, []byte(item.Key()), msg.Value, hs)
	if v := e.getView(t, id, aliceToken); v.Status != "failed" {
		t.Fatalf("after the chunk's dead letter: %+v, want failed", v)
	}
	khs := make([]kafka.Header, len(hs))
	for i, h := range hs {
		khs[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	e.Kafka.Produce(t, kafka.Message{Topic: contract.TopicTranscodeDLQ, Key: []byte(item.Key()), Value: msg.Value, Headers: khs})

	resp, ar, body := e.post(t, "/v1/videos/"+id+"/retry", aliceToken)
	if resp.StatusCode != http.StatusAccepted || ar.Redriven != 1 {
		t.Fatalf("retry: %d %s, want 202 with the work item redriven", resp.StatusCode, body)
	}
	got := e.Kafka.ReadAll(t, contract.TopicTranscodeChunks, 1, 10*time.Second)
	if len(got) != 1 || string(got[0].Key) != id+"/v00002" || header(got[0], contract.HeaderRedriveCount) != "1" ||
		header(got[0], contract.HeaderID) != contract.RedriveEventID(header(msg, contract.HeaderID), 1) || string(got[0].Value) != string(msg.Value) {
		t.Fatalf("video.transcode.chunks after the retry: %d records (%+v), want the item, key %s/v00002, redrive 1", len(got), got, id)
	}
	resp, _, body = e.post(t, "/v1/videos/"+id+"/retry", aliceToken)
	mustErrorCode(t, resp, body, http.StatusConflict, codeConflict)
}
