package dispatch

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/dev/harness"
)

// TestWatchdogReplacesASilentReader: with lag on its topics and nothing
// recorded for stallTimeout the watchdog reports a stall; without lag it
// does not (an idle group is no stall).
func TestWatchdogReplacesASilentReader(t *testing.T) {
	k := harness.StartKafka(t)
	topic := harness.RandomName("topic")
	k.CreateTopics(t, 1, topic)
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 10 * time.Second}
	c := &Consumer{log: slog.New(slog.DiscardHandler), group: harness.RandomName("group"), topics: []string{topic},
		stallTimeout: 150 * time.Millisecond}

	watch := func(last *atomic.Int64, within time.Duration) bool {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		fired := make(chan struct{}, 1)
		c.watchdog(ctx, client, last, func() { fired <- struct{}{} })
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
		t.Error("no stall reported with lag and nothing recorded for an hour")
	}
}
