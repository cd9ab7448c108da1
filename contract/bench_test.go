package contract_test

import (
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// The micro-benchmarks below cover the pure code every record goes
// through: encoding and decoding each event type, and building the
// CloudEvents and dead-letter headers. `make bench` runs them; they assert
// nothing about speed.

// benchEvents returns one valid event of each type for the same video.
func benchEvents() map[string]contract.Event {
	ready := sampleReady(contract.NewID())
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: ready.Video}
	tr := contract.VideoTranscoded{SchemaVersion: contract.SchemaVersion, Video: ready.Video, Media: ready.Media,
		Renditions: ready.Renditions, HLS: ready.HLS, TranscodedAt: ready.TranscodedAt}
	th := tr.Thumbnailed(ready.Thumbnails, ready.ThumbnailedAt)
	return map[string]contract.Event{"uploaded": up, "transcoded": tr, "thumbnailed": th, "ready": ready}
}

func BenchmarkEncode(b *testing.B) {
	for name, e := range benchEvents() {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := contract.Encode(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	decoders := map[string]func([]byte) error{
		"uploaded":    func(v []byte) error { _, err := contract.Decode[contract.VideoUploaded](v); return err },
		"transcoded":  func(v []byte) error { _, err := contract.Decode[contract.VideoTranscoded](v); return err },
		"thumbnailed": func(v []byte) error { _, err := contract.Decode[contract.VideoThumbnailed](v); return err },
		"ready":       func(v []byte) error { _, err := contract.Decode[contract.VideoReady](v); return err },
	}
	for name, e := range benchEvents() {
		value, err := contract.Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		decode := decoders[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			for b.Loop() {
				if err := decode(value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCloudEventHeaders(b *testing.B) {
	e := benchEvents()["transcoded"]
	meta := contract.Meta{
		ID: contract.NewID(), Source: contract.SourceFor("transcode"), Time: time.Now(),
		Traceparent: contract.NewTraceparent(""),
	}
	b.ReportAllocs()
	for b.Loop() {
		if hs := contract.CloudEventHeaders(e, meta); len(hs) == 0 {
			b.Fatal("no headers")
		}
	}
}

func BenchmarkDeadLetterHeaders(b *testing.B) {
	e := benchEvents()["uploaded"]
	original := contract.CloudEventHeaders(e, contract.Meta{
		ID: contract.NewID(), Source: contract.SourceFor("upload-api"), Time: time.Now(),
		Traceparent: contract.NewTraceparent(""),
	})
	dl := contract.DeadLetter{
		Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Partition: 3, Offset: 123456,
		Group: contract.StageTranscode.Group(), Err: "ffprobe: not a video: invalid data found when processing input",
		Class: contract.ErrorClassPermanent, Attempts: 1, FailedAt: time.Now(),
	}
	b.ReportAllocs()
	for b.Loop() {
		if hs := dl.Headers(original); len(hs) <= len(original) {
			b.Fatal("no dlq headers added")
		}
	}
}
