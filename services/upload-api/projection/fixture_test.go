package projection

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// newID returns a random lowercase UUID (v4).
func newID(tb testing.TB) string {
	tb.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("random id: %v", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// chain is one video's five events, built with the events constructors,
// and its transcode run (two video chunks of three and two segments per
// rung, and the audio).
type chain struct {
	up    contract.VideoUploaded
	pl    contract.VideoPlayable
	tr    contract.VideoTranscoded
	th    contract.VideoThumbnailed
	ready contract.VideoReady
}

func newChain(tb testing.TB, owner string) chain {
	tb.Helper()
	id := newID(tb)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: owner, Title: "clip " + id[:8], Tags: []string{"test"},
		Source:     contract.SourceObject{Bucket: "vidpipe", Key: contract.SourceKey(id), Size: 1234, ContentType: "video/mp4", Filename: "clip.mp4"},
		UploadedAt: at,
	}}
	tr := up.Transcoded(contract.Media{DurationSeconds: 2, Width: 640, Height: 360, VideoCodec: "h264"},
		[]contract.Rendition{{Name: "360p", Width: 640, Height: 360, Bitrate: 800_000, Key: contract.RenditionKey(id, "360p"), Size: 1000}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, at.Add(time.Second))
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 640, Height: 360, Size: 100},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "small.jpg", Width: 320, Height: 180, Size: 50},
	}, at.Add(2*time.Second))
	pl := up.Playable(tr.Media, tr.HLS, 2, 5, at.Add(time.Second/2))
	return chain{up: up, pl: pl, tr: tr, th: th, ready: th.Ready(at.Add(3 * time.Second))}
}

// run is the id of the chain's transcode run (the video.uploaded event's
// ce_id, as transcode names it).
func (c chain) run() string { return contract.DeriveID("test-run", c.up.VideoID) }

// chunk is the chain's work item: video chunk index (of 2), or the audio
// for index -1.
func (c chain) chunk(index int) contract.TranscodeChunk {
	kind := contract.ChunkVideo
	if index < 0 {
		kind, index = contract.ChunkAudio, 0
	}
	return contract.TranscodeChunk{SchemaVersion: contract.SchemaVersion, Video: c.up.Video, Run: c.run(), Kind: kind,
		Index: index, Chunks: 2, PlanKey: contract.ChunkWorkPrefix(c.up.VideoID, c.run()) + "plan.json"}
}

// done is the completion of the chain's work item index (-1: the audio),
// with segments segments; video chunk 0 has 3 segments, chunk 1 has 2.
func (c chain) done(index, segments int, complete bool) contract.TranscodeChunkDone {
	w := c.chunk(index)
	return contract.TranscodeChunkDone{SchemaVersion: contract.SchemaVersion, Video: w.Video, Run: w.Run, Kind: w.Kind,
		Index: w.Index, Chunks: w.Chunks, Segments: segments, Complete: complete, SegmentsTotal: 5}
}

// mustEncode encodes e with contract.Encode.
func mustEncode(tb testing.TB, e contract.Event) []byte {
	tb.Helper()
	b, err := contract.Encode(e)
	if err != nil {
		tb.Fatalf("encode %s: %v", e.EventType(), err)
	}
	return b
}

// eventRecord is e as a record of its topic (offset -1: no offset check).
func eventRecord(tb testing.TB, e contract.Event) Record {
	tb.Helper()
	return Record{Topic: e.Topic(), Offset: -1, Key: []byte(e.Key()), Value: mustEncode(tb, e),
		Headers: contract.CloudEventHeaders(e, contract.Meta{ID: newID(tb), Source: contract.SourceFor("test"), Time: time.Now()})}
}

// dlqRecord is the dead letter stage st would write for its input event in.
func dlqRecord(tb testing.TB, st contract.Stage, in contract.Event, reason, class string) Record {
	tb.Helper()
	orig := eventRecord(tb, in)
	dl := contract.DeadLetter{Stage: st, Topic: in.Topic(), Group: st.Group(), Err: reason, Class: class,
		Attempts: 3, FailedAt: time.Now()}
	return Record{Topic: st.DLQTopic(), Offset: -1, Key: []byte(in.Key()), Value: orig.Value, Headers: dl.Headers(orig.Headers)}
}

// testPipeline is the pipeline the unit tests observe records in.
var testPipeline = contract.DefaultPipeline()
