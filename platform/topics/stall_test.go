package topics_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// TestWatchStall: with lag on its topics and nothing handled for the
// timeout, WatchStall reports a stall; without lag it does not (an idle
// group is no stall).
func TestWatchStall(t *testing.T) {
	k := harness.StartKafka(t)
	topic := harness.RandomName("topic")
	k.CreateTopics(t, 1, topic)
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 10 * time.Second}
	group := harness.RandomName("group")

	watch := func(last *atomic.Int64, within time.Duration) bool {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		fired := make(chan struct{}, 1)
		topics.WatchStall(ctx, client, group, []string{topic}, 150*time.Millisecond, last, func(int64) { fired <- struct{}{} })
		select {
		case <-fired:
			return true
		default:
			return false
		}
	}
	var old atomic.Int64
	old.Store(time.Now().Add(-time.Hour).UnixNano())
	if watch(&old, 2*time.Second) {
		t.Error("stall reported without lag")
	}
	k.Produce(t, kafka.Message{Topic: topic, Key: []byte("k"), Value: []byte("{}")})
	if !watch(&old, 30*time.Second) {
		t.Error("no stall reported with lag and nothing handled for an hour")
	}
}
