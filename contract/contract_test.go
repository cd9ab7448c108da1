package contract_test

import (
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

func sampleReady(id string) contract.VideoReady {
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: "Surfing at dawn", Description: "Waves.\nMore waves.", Tags: []string{"surf", "sea"},
		Source:     contract.SourceObject{Bucket: "vidpipe", Key: contract.SourceKey(id), Size: 1 << 20, ContentType: "video/mp4", Filename: "surf.mp4"},
		UploadedAt: time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC),
	}}
	tr := up.Transcoded(contract.Media{DurationSeconds: 10.5, Width: 1920, Height: 1080, Format: "mov,mp4,m4a,3gp,3g2,mj2", VideoCodec: "h264"},
		[]contract.Rendition{{Name: "1080p", Width: 1920, Height: 1080, Bitrate: 5_000_000, Key: contract.RenditionKey(id, "1080p"), Size: 100, PlaylistKey: contract.HLSPrefix(id) + "1080p/index.m3u8"}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, up.UploadedAt.Add(time.Minute))
	tr.DASH = &contract.DASH{ManifestKey: up.Outputs().DASHManifestKey()}
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 1920, Height: 1080, Size: 5},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "thumb.jpg", Width: 320, Height: 180, Size: 3},
	}, tr.TranscodedAt.Add(time.Second))
	return th.Ready(th.ThumbnailedAt.Add(time.Second))
}

func TestRoundTripEveryEvent(t *testing.T) {
	id := contract.NewID()
	ready := sampleReady(id)
	th := contract.VideoThumbnailed{SchemaVersion: 1, Video: ready.Video, Media: ready.Media, Renditions: ready.Renditions, HLS: ready.HLS, DASH: ready.DASH,
		Thumbnails: ready.Thumbnails, TranscodedAt: ready.TranscodedAt, ThumbnailedAt: ready.ThumbnailedAt}
	tests := map[string]struct {
		ev     contract.Event
		decode func([]byte) (contract.Event, error)
		topic  string
	}{
		"uploaded":    {contract.VideoUploaded{SchemaVersion: 1, Video: ready.Video}, func(b []byte) (contract.Event, error) { return contract.Decode[contract.VideoUploaded](b) }, contract.TopicUploaded},
		"thumbnailed": {th, func(b []byte) (contract.Event, error) { return contract.Decode[contract.VideoThumbnailed](b) }, contract.TopicThumbnailed},
		"ready":       {ready, func(b []byte) (contract.Event, error) { return contract.Decode[contract.VideoReady](b) }, contract.TopicReady},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := contract.Encode(tc.ev)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			var raw map[string]any
			if err := json.Unmarshal(b, &raw); err != nil || raw["video_id"] != id || raw["schema_version"] != float64(1) {
				t.Fatalf("value lacks video_id/schema_version: %s", b)
			}
			got, err := tc.decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			b2, _ := contract.Encode(got)
			if string(b) != string(b2) {
				t.Fatalf("round trip changed the value:\n%s\n%s", b, b2)
			}
			if got.Key() != id || got.Topic() != tc.topic {
				t.Fatalf("key/topic = %s/%s", got.Key(), got.Topic())
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	id := contract.NewID()
	tests := map[string]struct {
		mutate func(*contract.VideoReady)
		field  string
	}{
		"bad id":             {func(e *contract.VideoReady) { e.VideoID = "../../etc" }, "video_id"},
		"uppercase id":       {func(e *contract.VideoReady) { e.VideoID = strings.ToUpper(id) }, "video_id"},
		"no owner":           {func(e *contract.VideoReady) { e.Owner = "" }, "owner"},
		"blank title":        {func(e *contract.VideoReady) { e.Title = "   " }, "title"},
		"control char title": {func(e *contract.VideoReady) { e.Title = "a\x1bb" }, "title"},
		"invalid utf8":       {func(e *contract.VideoReady) { e.Title = "a\xffb" }, "title"},
		"too many tags":      {func(e *contract.VideoReady) { e.Tags = make([]string, 33) }, "tags"},
		"empty tag":          {func(e *contract.VideoReady) { e.Tags = []string{""} }, "tags[0]"},
		"zero size":          {func(e *contract.VideoReady) { e.Source.Size = 0 }, "source.size"},
		"traversal key":      {func(e *contract.VideoReady) { e.Source.Key = "uploads/../x" }, "source.key"},
		"no upload time":     {func(e *contract.VideoReady) { e.UploadedAt = time.Time{} }, "uploaded_at"},
		"zero duration":      {func(e *contract.VideoReady) { e.Media.DurationSeconds = 0 }, "media.duration_seconds"},
		"absurd dimensions":  {func(e *contract.VideoReady) { e.Media.Width = 30000 }, "media"},
		"no renditions":      {func(e *contract.VideoReady) { e.Renditions = nil }, "renditions"},
		"rendition no key":   {func(e *contract.VideoReady) { e.Renditions[0].Key = "" }, "renditions[0].key"},
		"unknown codec":      {func(e *contract.VideoReady) { e.Renditions[0].Codec = "vp9" }, "renditions[0].codec"},
		"no master":          {func(e *contract.VideoReady) { e.HLS.MasterKey = "" }, "hls.master_key"},
		"no poster":          {func(e *contract.VideoReady) { e.Thumbnails.Poster.Key = "" }, "thumbnails.poster.key"},
		"no ready time":      {func(e *contract.VideoReady) { e.ReadyAt = time.Time{} }, "ready_at"},
		"unknown version":    {func(e *contract.VideoReady) { e.SchemaVersion = 2 }, "schema_version"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := sampleReady(id)
			tc.mutate(&e)
			err := e.Validate()
			var fe *contract.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, contract.ErrInvalid) {
				t.Fatalf("Validate() = %v, want a FieldError on %q", err, tc.field)
			}
			if _, err := contract.Encode(e); err == nil {
				t.Fatal("Encode accepted an invalid event")
			}
		})
	}
	if err := sampleReady(id).Validate(); err != nil {
		t.Fatalf("valid sample rejected: %v", err)
	}
	for _, c := range append([]string{""}, contract.VideoCodecs...) {
		e := sampleReady(id)
		e.Renditions[0].Codec = c
		if err := e.Validate(); err != nil {
			t.Errorf("codec %q rejected: %v", c, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := contract.Encode(sampleReady(contract.NewID()))
	tests := map[string]struct {
		value []byte
		is    error
	}{
		"empty":          {nil, contract.ErrDecode},
		"not json":       {[]byte("hello"), contract.ErrDecode},
		"array":          {[]byte("[1,2]"), contract.ErrDecode},
		"trailing junk":  {append(append([]byte{}, good...), []byte("xx")...), contract.ErrDecode},
		"bad utf8":       {[]byte("{\"title\":\"\xff\"}"), contract.ErrDecode},
		"wrong type":     {[]byte(`{"video_id": 5}`), contract.ErrDecode},
		"missing fields": {[]byte(`{"schema_version":1}`), contract.ErrInvalid},
		"too big":        {make([]byte, contract.MaxEventSize+1), contract.ErrDecode},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := contract.Decode[contract.VideoReady](tc.value)
			if !errors.Is(err, tc.is) {
				t.Fatalf("Decode = %v, want errors.Is %v", err, tc.is)
			}
		})
	}
	// Unknown fields are tolerated (a newer producer may add some).
	var m map[string]any
	_ = json.Unmarshal(good, &m)
	m["added_later"] = true
	b, _ := json.Marshal(m)
	if _, err := contract.Decode[contract.VideoReady](b); err != nil {
		t.Fatalf("unknown field rejected: %v", err)
	}
}

func TestDeadLetterHeadersRoundTrip(t *testing.T) {
	orig := []contract.Header{{Key: contract.HeaderID, Value: []byte("x")}, {Key: "dlq.stage", Value: []byte("stale")}}
	dl := contract.DeadLetter{Stage: contract.StageThumbnail, Topic: contract.TopicTranscoded, Partition: 3, Offset: 42, Group: "thumbnail",
		Err: strings.Repeat("e", contract.MaxDLQErrorLen+10), Class: contract.ErrorClassExhausted, Code: contract.ErrorCodeCorruptMedia,
		Attempts: 5, FailedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	// Without a code, the dead letter says internal.
	if c := contract.HeaderValue(contract.DeadLetter{}.Headers(nil), contract.HeaderDLQErrorCode); c != contract.ErrorCodeInternal {
		t.Errorf("dlq.error_code of a dead letter without Code = %q, want internal", c)
	}
	hs := dl.Headers(orig)
	if contract.HeaderValue(hs, contract.HeaderID) != "x" {
		t.Fatal("original header lost")
	}
	n := 0
	for _, h := range hs {
		if h.Key == contract.HeaderDLQStage {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d dlq.stage headers, want 1 (stale ones replaced)", n)
	}
	got, ok := contract.ParseDeadLetter(hs)
	want := dl
	want.Err = want.Err[:contract.MaxDLQErrorLen]
	if !ok || got != want {
		t.Fatalf("ParseDeadLetter = %+v, want %+v", got, want)
	}
	if len(contract.StripDLQHeaders(hs)) != 1 {
		t.Fatal("StripDLQHeaders left dlq headers")
	}
}

func TestCloudEventHeaders(t *testing.T) {
	e := sampleReady(contract.NewID())
	tp := contract.NewTraceparent("")
	hs := contract.CloudEventHeaders(e, contract.Meta{ID: "id-1", Source: contract.SourceFor("indexer"), Time: time.Unix(0, 0), Traceparent: tp})
	want := map[string]string{
		"ce_specversion": "1.0", "ce_id": "id-1", "ce_type": "dev.vidpipe.video.ready.v1", "ce_source": "/vidpipe/indexer",
		"ce_time": "1970-01-01T00:00:00Z", "ce_subject": e.VideoID, "content-type": "application/json", "traceparent": tp,
		"ce_dataschema": "urn:vidpipe:schema:video.ready:v1",
	}
	for k, v := range want {
		if got := contract.HeaderValue(hs, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestIDsAndTraceparent(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := contract.NewID()
		if !contract.IsUUID(id) || id[14] != '4' || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	root := contract.NewTraceparent("")
	child := contract.NewTraceparent(root)
	if contract.TraceID(child) != contract.TraceID(root) || child == root || len(child) != 55 {
		t.Fatalf("child %q does not continue %q", child, root)
	}
	if bad := contract.NewTraceparent("00-zz-11-01"); contract.TraceID(bad) == "zz" || len(bad) != 55 {
		t.Fatalf("invalid parent not replaced: %q", bad)
	}
}

func TestStageTopics(t *testing.T) {
	tests := map[contract.Stage][3]string{
		contract.StageTranscode: {"video.uploaded", "video.transcoded", "video.transcode.dlq"},
		contract.StageThumbnail: {"video.transcoded", "video.thumbnailed", "video.thumbnail.dlq"},
		contract.StageIndexer:   {"video.thumbnailed", "video.ready", "video.indexer.dlq"},
	}
	for s, want := range tests {
		if got := [3]string{s.InputTopic(), s.OutputTopic(), s.DLQTopic()}; got != want || s.Group() != string(s) {
			t.Errorf("%s: %v, want %v", s, got, want)
		}
		if back, ok := contract.StageForDLQ(want[2]); !ok || back != s {
			t.Errorf("StageForDLQ(%s) = %s", want[2], back)
		}
	}
	if len(contract.AllTopics()) != 15 {
		t.Fatal("want 15 topics: 5 steps, 2 work topics, 3 lifecycle topics, 3 DLQs, 2 webhook topics")
	}
	if _, ok := contract.ParseStage("nope"); ok {
		t.Fatal("unknown stage accepted")
	}
}

// TestRootPackageImportsOnlyStdlib enforces the contract package's rule.
func TestRootPackageImportsOnlyStdlib(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if first := strings.Split(p, "/")[0]; strings.Contains(first, ".") {
				t.Errorf("%s imports %s: the contract package must use the standard library only", f, p)
			}
		}
	}
}
