package kload

import (
	"context"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// TestProduceAndObserve produces a burst and a paced series on a real
// (kfake) broker and checks that the observer sees every record once,
// valid, spread evenly over the partitions, after it was sent.
func TestProduceAndObserve(t *testing.T) {
	k := harness.StartKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "bench.kload.in"
	if err := CreateTopics(ctx, k.Brokers, 3, topic); err != nil {
		t.Fatal(err)
	}
	obs, err := NewObserver(k.Brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	p, err := NewProducer(k.Brokers, topic, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	if err := p.Burst(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if err := p.Paced(ctx, 3, 100); err != nil {
		t.Fatal(err)
	}
	seen, err := obs.WaitCount(ctx, 0, 12, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 12 {
		t.Fatalf("observed %d records, want 12", len(seen))
	}
	keys := map[string]bool{}
	for _, s := range seen {
		if keys[s.Key] {
			t.Fatalf("key %s observed twice", s.Key)
		}
		keys[s.Key] = true
		sent, ok := p.Sent(s.Key)
		if !ok || s.At.Before(sent) {
			t.Fatalf("record %s: sent %v (%v), observed %v", s.Key, sent, ok, s.At)
		}
		if s.Source != contract.SourceFor("bench") || s.CETime.IsZero() {
			t.Fatalf("record %s: headers source %q time %v", s.Key, s.Source, s.CETime)
		}
		if first, ok := obs.First(topic, s.Key); !ok || first.Key != s.Key {
			t.Fatalf("First(%s) = %+v, %v", s.Key, first, ok)
		}
	}
	msgs := k.ReadAll(t, topic, 12, 10*time.Second)
	perPartition := map[int]int{}
	for _, m := range msgs {
		perPartition[m.Partition]++
		if _, err := contract.Decode[contract.VideoUploaded](m.Value); err != nil {
			t.Fatalf("record value: %v", err)
		}
	}
	for part := range 3 {
		if perPartition[part] != 4 {
			t.Fatalf("partition counts %v, want 4 each (round-robin)", perPartition)
		}
	}
}

func TestTranscodedIsValid(t *testing.T) {
	in := Uploaded(time.Now())
	out := Transcoded(in, time.Now())
	if err := in.Validate(); err != nil {
		t.Fatalf("Uploaded: %v", err)
	}
	if err := out.Validate(); err != nil || out.Key() != in.Key() {
		t.Fatalf("Transcoded: %v (key %s vs %s)", err, out.Key(), in.Key())
	}
}

// The planner's work items and the workers' completions are valid events
// of the contract, published to the lane's topic.
func TestWorkItem(t *testing.T) {
	in := Uploaded(time.Now())
	run := contract.NewID()
	item := WorkItem(in, run, 2, 12, "bench.chunks.x")
	if err := item.Validate(); err != nil {
		t.Fatal(err)
	}
	if item.Topic() != "bench.chunks.x" || item.Key() != contract.ChunkKey(in.VideoID, contract.ChunkVideo, 2) {
		t.Fatalf("topic %q key %q", item.Topic(), item.Key())
	}
	b, err := contract.Encode(item)
	if err != nil {
		t.Fatal(err)
	}
	back, err := contract.Decode[contract.TranscodeChunk](b)
	if err != nil || back.VideoID != in.VideoID || back.Run != run || back.Index != 2 || back.Chunks != 12 || back.Kind != contract.ChunkVideo {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	done := ChunkDone(back, "bench.done.x")
	if err := done.Validate(); err != nil {
		t.Fatal(err)
	}
	if done.Topic() != "bench.done.x" || done.Key() != in.VideoID {
		t.Fatalf("done: topic %q key %q", done.Topic(), done.Key())
	}
}
