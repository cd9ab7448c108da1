package topics_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/harness"
	"github.com/vidpipe/vidpipe/events/topics"
)

func TestMain(m *testing.M) { harness.Main(m) }

func TestEnsurePipelineIsIdempotent(t *testing.T) {
	k := harness.StartKafka(t)
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 5 * time.Second}
	ctx := context.Background()
	res, err := topics.EnsurePipeline(ctx, client, topics.Spec{Partitions: 3})
	if err != nil || len(res) != 7 {
		t.Fatalf("first Ensure = %v, %v", res, err)
	}
	for _, r := range res {
		if !r.Created {
			t.Errorf("%s not created", r.Topic)
		}
	}
	res, err = topics.EnsurePipeline(ctx, client, topics.Spec{Partitions: 3})
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	for _, r := range res {
		if r.Created {
			t.Errorf("%s created twice", r.Topic)
		}
	}
	for _, name := range events.AllTopics() {
		ps, err := topics.Partitions(ctx, client, name)
		if err != nil || len(ps) != 3 {
			t.Errorf("%s: partitions %v, %v", name, ps, err)
		}
	}
	k.Produce(t, kafka.Message{Topic: events.TopicReady, Key: []byte("k"), Value: []byte("v")})
	wm, err := topics.Watermarks(ctx, client, events.TopicReady)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, w := range wm {
		total += w[1] - w[0]
	}
	if total != 1 {
		t.Fatalf("watermarks %v: want 1 record in total", wm)
	}
}
