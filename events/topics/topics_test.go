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

func TestGroupLag(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreateTopics(t, 2, "lagged")
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 5 * time.Second}
	ctx := context.Background()
	k.Produce(t,
		kafka.Message{Topic: "lagged", Key: []byte("a"), Value: []byte("1")},
		kafka.Message{Topic: "lagged", Key: []byte("a"), Value: []byte("2")},
		kafka.Message{Topic: "lagged", Key: []byte("a"), Value: []byte("3")},
	)
	sum := func(m map[int]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	lag, err := topics.GroupLag(ctx, client, "nobody-yet", "lagged")
	if err != nil || len(lag) != 2 || sum(lag) != 3 {
		t.Fatalf("lag of a group that committed nothing = %v, %v; want 3 over 2 partitions", lag, err)
	}
	var part int
	for p, l := range lag {
		if l == 3 {
			part = p // same key: all three records are on one partition
		}
	}
	if _, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: "g", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"lagged": {{Partition: part, Offset: 2}}}}); err != nil {
		t.Fatal(err)
	}
	if lag, err := topics.GroupLag(ctx, client, "g", "lagged"); err != nil || sum(lag) != 1 || lag[part] != 1 {
		t.Fatalf("lag after committing offset 2 = %v, %v; want 1 on partition %d", lag, err, part)
	}
}
