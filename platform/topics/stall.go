package topics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// WatchStall watches a consumer that may stall silently (a kafka-go reader
// that stops fetching without an error): every timeout/3 it checks whether
// nothing was processed for timeout (last holds the UnixNano time of the
// last processed record) while group has lag on any of topicList, and then
// calls stalled with the lag, once, and returns. Errors reading the lag
// (Kafka down) are not a stall: the reader reconnects by itself. It returns
// when ctx is done.
func WatchStall(ctx context.Context, client *kafka.Client, group string, topicList []string, timeout time.Duration,
	last *atomic.Int64, stalled func(lag int64)) {
	t := time.NewTicker(timeout / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, last.Load())) < timeout {
			continue
		}
		var lag int64
		for _, topic := range topicList {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			byPart, err := GroupLag(lctx, client, group, topic)
			cancel()
			if err != nil {
				lag = 0
				break
			}
			for _, l := range byPart {
				lag += l
			}
		}
		if lag > 0 && time.Since(time.Unix(0, last.Load())) >= timeout {
			stalled(lag)
			return
		}
	}
}
