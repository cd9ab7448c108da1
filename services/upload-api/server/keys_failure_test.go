package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// TestPresignRefusesAnotherVideosObject: a ready document that names an
// object outside its own video (in any key field) makes the API sign
// nothing, even though such a document can only reach the projection or
// the catalog around their validation (here: written into the table).
func TestPresignRefusesAnotherVideosObject(t *testing.T) {
	e := mustEnv(t)
	victim := e.mustReady(t, e.mustUploadedEvent(t, bobToken, "Bob's private clip"))
	up := e.mustUploadedEvent(t, aliceToken, "Alice's")
	f := e.mustReady(t, up)
	v := viewer{objects: e.Objects, opts: e.Opts}
	ctx := context.Background()
	if _, err := v.document(ctx, f.ready); err != nil {
		t.Fatalf("own document: %v", err)
	}
	foreign := map[string]func(*contract.VideoReady){
		"rendition": func(d *contract.VideoReady) { d.Renditions[0].Key = contract.RenditionKey(victim.id, "360p") },
		"poster":    func(d *contract.VideoReady) { d.Thumbnails.Poster.Key = victim.ready.Thumbnails.Poster.Key },
		"small":     func(d *contract.VideoReady) { d.Thumbnails.Small.Key = contract.SourceKey(victim.id) },
		"sprite": func(d *contract.VideoReady) {
			d.Thumbnails.Sprite = &contract.Image{Key: contract.SourceKey(victim.id), Width: 1, Height: 1, Size: 1}
		},
		"sprite vtt": func(d *contract.VideoReady) { d.Thumbnails.SpriteVTTKey = "deadletters/transcode/video.uploaded/0/0" },
		"escape": func(d *contract.VideoReady) {
			d.Renditions[0].Key = contract.OutputPrefix(f.id) + "../" + victim.id + "/mp4/360p.mp4"
		},
		"own source": func(d *contract.VideoReady) { d.Renditions[0].Key = contract.SourceKey(victim.id) },
		"tus metadata": func(d *contract.VideoReady) {
			d.Thumbnails.Poster.Key = "tus/" + contract.SourceKey(victim.id) + ".info"
		},
	}
	for name, mutate := range foreign {
		t.Run(name, func(t *testing.T) {
			doc := f.ready
			doc.Renditions = append([]contract.Rendition(nil), f.ready.Renditions...)
			mutate(&doc)
			out, err := v.document(ctx, doc)
			if err == nil {
				t.Fatalf("document with a foreign key rendered: %+v", out)
			}
			// Through the HTTP API, from a tampered projection row.
			b, _ := json.Marshal(doc)
			if _, err := e.Pool.Exec(ctx, `UPDATE video_status SET ready = $2 WHERE id = $1`, f.id, b); err != nil {
				t.Fatal(err)
			}
			resp, body := e.do(t, http.MethodGet, "/v1/videos/"+f.id, aliceToken, nil, nil)
			if resp.StatusCode == http.StatusOK || strings.Contains(string(body), victim.id) || strings.Contains(string(body), "X-Amz-Signature") {
				t.Fatalf("GET with a foreign key: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestFailureShowsSafeWords: a failed video's status document carries the
// stable code and a fixed message; the raw error (paths, addresses,
// decoder output) is never shown, in the document or its event stream.
func TestFailureShowsSafeWords(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	raw := "ffprobe /tmp/vidpipe-transcode-x/source: moov atom not found (minio 10.0.0.7:9000)"
	for _, tc := range []struct{ code, want string }{
		{contract.ErrorCodeUnsupportedFormat, contract.ErrorCodeUnsupportedFormat},
		{contract.ErrorCodeDurationMismatch, contract.ErrorCodeDurationMismatch},
		{"", contract.ErrorCodeInternal},
		{"made_up", contract.ErrorCodeInternal},
	} {
		up := e.mustUploadedEvent(t, aliceToken, "Doomed")
		value, _ := contract.Encode(up)
		dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Group: "transcode",
			Err: raw, Class: contract.ErrorClassPermanent, Code: tc.code, Attempts: 1, FailedAt: time.Now()}
		if err := e.Status.Apply(ctx, projection.Record{Topic: contract.TopicTranscodeDLQ, Partition: 0, Offset: -1, Value: value,
			Headers: dl.Headers(nil)}); err != nil {
			t.Fatal(err)
		}
		resp, body := e.do(t, http.MethodGet, "/v1/videos/"+up.VideoID, aliceToken, nil, nil)
		var v videoView
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil {
			t.Fatalf("GET: %d %s", resp.StatusCode, body)
		}
		if v.Status != "failed" || v.Failure == nil || v.Failure.Code != tc.want || v.Failure.Message != failureMessages[tc.want] ||
			v.Failure.Message == "" || v.Failure.Stage != "transcode" || v.Failure.Reason != v.Failure.Message {
			t.Errorf("code %q: failure = %s", tc.code, body)
		}
		for _, leak := range []string{"moov", "10.0.0.7", "/tmp/", "made_up"} {
			if strings.Contains(string(body), leak) {
				t.Errorf("code %q: the document shows %q: %s", tc.code, leak, body)
			}
		}
	}
	for _, c := range contract.ErrorCodes {
		if failureMessages[c] == "" {
			t.Errorf("no message for error code %s", c)
		}
	}
}
