package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/config"
	"github.com/vidpipe/vidpipe/events/kafkaconn"
)

// DefaultGroup is the projection's consumer group id.
const DefaultGroup = "upload-api"

// Consumer feeds every stage topic and every dead-letter topic into a Store
// as a member of its own consumer group.
type Consumer struct {
	cfg        config.Kafka
	store      *Store
	log        *slog.Logger
	group      string
	topics     []string
	backoffMin time.Duration
	backoffMax time.Duration
	ready      atomic.Bool
}

// ConsumerOption configures a Consumer.
type ConsumerOption func(*Consumer)

// WithGroup sets the consumer group id. Default: DefaultGroup ("upload-api").
func WithGroup(group string) ConsumerOption { return func(c *Consumer) { c.group = group } }

// WithRetryBackoff bounds the delay between attempts to apply a record while
// the database fails: exponential from min to max with jitter. A failed
// fetch pauses min (the Kafka reader paces its own retries).
// Default: 100ms to 5s.
func WithRetryBackoff(min, max time.Duration) ConsumerOption {
	return func(c *Consumer) { c.backoffMin, c.backoffMax = min, max }
}

// NewConsumer returns a consumer of events.StageTopics() and
// events.DLQTopics() that applies each record to store. A nil logger means
// slog.Default().
func NewConsumer(cfg config.Kafka, store *Store, logger *slog.Logger, opts ...ConsumerOption) *Consumer {
	if logger == nil {
		logger = slog.Default()
	}
	c := &Consumer{cfg: cfg, store: store, log: logger, group: DefaultGroup,
		topics: events.AllTopics(), backoffMin: 100 * time.Millisecond, backoffMax: 5 * time.Second}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Ready reports whether the consumer has joined its group (or fetched a
// record). It stays true once set: a later broker outage shows as lag,
// not as unreadiness.
func (c *Consumer) Ready() bool { return c.ready.Load() }

// Run consumes until ctx is done, then leaves the group and returns nil. It
// returns an error only for an unusable configuration.
//
// Delivery is at least once: a record's offset is committed (synchronously,
// one commit per record) only after Store.Apply succeeded; Apply is
// idempotent, so a redelivery after a crash or rebalance changes nothing. A
// record Apply reports as ErrUndecodable is logged and committed past. Any
// other Apply error (the database is down) is retried with backoff until it
// succeeds or ctx is done: no record is skipped for a database error, and
// the records after it wait. Kafka being unreachable at start or later is
// not an error: the reader keeps re-joining in the background.
func (c *Consumer) Run(ctx context.Context) error {
	if len(c.cfg.Brokers) == 0 {
		return errors.New("projection consumer: no Kafka brokers configured")
	}
	clientID := c.cfg.ClientID
	if clientID == "" {
		clientID = "upload-api"
	}
	dialer, err := kafkaconn.Dialer(c.cfg, &kafka.Dialer{ClientID: clientID, Timeout: 10 * time.Second, DualStack: true})
	if err != nil {
		return fmt.Errorf("projection consumer: %w", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:               c.cfg.Brokers,
		GroupID:               c.group,
		GroupTopics:           c.topics,
		StartOffset:           kafka.FirstOffset,
		CommitInterval:        0, // synchronous: commit only what Apply stored
		MinBytes:              1,
		MaxBytes:              4 << 20,
		MaxWait:               2 * time.Second, // long poll (shorter leaves too little slack: idle fetches time out); bounds Close
		WatchPartitionChanges: true,            // topics created later are picked up
		Dialer:                dialer,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.log.Warn("projection consumer: kafka: " + fmt.Sprintf(msg, args...))
		}),
	})
	defer func() {
		if err := r.Close(); err != nil {
			c.log.Warn("projection consumer: close reader", "err", err)
		}
	}()

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go c.watchJoin(watchCtx, r)

	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The reader retries on its own and paces itself (each
			// partition reader backs off between reconnects, the group
			// waits between joins); the errors it met are queued with
			// the records and returned one per call, many of them stale
			// once Kafka is back. A growing backoff per error would stall
			// the projection long after a short broker outage (28
			// partitions queue dozens of errors): pause briefly instead.
			d := c.backoffMin
			c.log.Warn("projection consumer: fetch failed", "err", err, "retry_in", d)
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		c.ready.Store(true)
		if err := c.apply(ctx, m); err != nil {
			return nil // ctx done; the record stays uncommitted
		}
		// Commit even if ctx was cancelled meanwhile: the record is applied.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = r.CommitMessages(cctx, m)
		cancel()
		if err != nil {
			// Harmless: the record is redelivered and Apply ignores it.
			c.log.Warn("projection consumer: commit failed", "topic", m.Topic, "partition", m.Partition,
				"offset", m.Offset, "err", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// apply applies m, retrying transient errors until it succeeds or ctx is
// done (the only error it returns).
func (c *Consumer) apply(ctx context.Context, m kafka.Message) error {
	rec := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value,
		Headers: make([]events.Header, len(m.Headers))}
	for i, h := range m.Headers {
		rec.Headers[i] = events.Header{Key: h.Key, Value: h.Value}
	}
	for attempt := 1; ; attempt++ {
		err := c.store.Apply(ctx, rec)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrUndecodable):
			c.log.Warn("projection consumer: skipping record", "topic", m.Topic, "partition", m.Partition,
				"offset", m.Offset, "key", string(m.Key), "err", err)
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		}
		d := backoff(attempt, c.backoffMin, c.backoffMax)
		c.log.Warn("projection consumer: apply failed, retrying", "topic", m.Topic, "partition", m.Partition,
			"offset", m.Offset, "attempt", attempt, "retry_in", d, "err", err)
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// watchJoin sets ready once the reader has been assigned partitions (its
// first group generation). Reader.Stats resets its counters on each call;
// nothing else reads them.
func (c *Consumer) watchJoin(ctx context.Context, r *kafka.Reader) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for !c.ready.Load() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if st := r.Stats(); (st.Rebalances > 0 || st.Messages > 0) && c.ready.CompareAndSwap(false, true) {
				c.log.Info("projection consumer: joined group", "group", c.group)
			}
		}
	}
}

// backoff is the delay before retry n (1-based): exponential from lo,
// capped at hi, with equal jitter (uniform in [d/2, d]).
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
