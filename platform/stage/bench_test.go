package stage_test

import (
	"context"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// Micro-benchmarks of the runtime's per-record pure code: building the
// output record and converting headers. `make bench` runs them; they
// assert nothing about speed.

func BenchmarkNewMessage(b *testing.B) {
	out, err := transcodeOK(context.Background(), uploaded(contract.NewID()))
	if err != nil {
		b.Fatal(err)
	}
	parent := contract.NewTraceparent("")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stage.NewMessage(out, "transcode", parent); err != nil {
			b.Fatal(err)
		}
	}
}

// benchHeaders are the headers of a typical input record.
func benchHeaders(b *testing.B) []kafka.Header {
	b.Helper()
	m, err := stage.NewMessage(uploaded(contract.NewID()), "upload-api", "")
	if err != nil {
		b.Fatal(err)
	}
	return m.Headers
}

func BenchmarkFromKafkaHeaders(b *testing.B) {
	hs := benchHeaders(b)
	b.ReportAllocs()
	for b.Loop() {
		if got := stage.FromKafkaHeaders(hs); len(got) != len(hs) {
			b.Fatal("headers lost")
		}
	}
}

func BenchmarkToKafkaHeaders(b *testing.B) {
	hs := stage.FromKafkaHeaders(benchHeaders(b))
	b.ReportAllocs()
	for b.Loop() {
		if got := stage.ToKafkaHeaders(hs); len(got) != len(hs) {
			b.Fatal("headers lost")
		}
	}
}
