package projection

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/groupread"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
)

// DefaultGroup is the projection's consumer group id: the service name.
const DefaultGroup = uploadapi.Service

// Consumer feeds every stage topic and every dead-letter topic into a Store
// as a member of its own consumer group.
type Consumer struct {
	cfg    config.Kafka
	store  *Store
	log    *slog.Logger
	group  string
	topics []string
	// retry paces the attempts to apply a record (equal jitter); a failed
	// fetch pauses retry.Initial.
	retry backoff.Policy
	// stallTimeout: with lag and no record applied for this long, the
	// reader is replaced (see consume). Default: 30s.
	stallTimeout time.Duration
	// handle replaces store.Apply (WithHandler); nil: store.Apply.
	handle func(ctx context.Context, rec Record) error
	ready  atomic.Bool
	stalls atomic.Int64
}

// WithStallTimeout sets how long the consumer may apply nothing while its
// group lags before it replaces its reader. Default: 30s.
func WithStallTimeout(d time.Duration) ConsumerOption {
	return func(c *Consumer) { c.stallTimeout = d }
}

// Stalls counts the readers replaced because they stalled.
func (c *Consumer) Stalls() int64 { return c.stalls.Load() }

// ConsumerOption configures a Consumer.
type ConsumerOption func(*Consumer)

// WithGroup sets the consumer group id. Default: DefaultGroup ("upload-api").
func WithGroup(group string) ConsumerOption { return func(c *Consumer) { c.group = group } }

// WithHandler makes the consumer read topics and hand each record to fn
// instead of applying it to the store: the same delivery (commit after fn
// succeeded, transient errors retried with backoff, never skipped; an
// error matching ErrUndecodable is logged and committed past) for another
// group, e.g. upload-api's video.deleted consumer (group
// upload-api-lifecycle). Default: Store.Apply over Topics(pipeline).
func WithHandler(topics []string, fn func(ctx context.Context, rec Record) error) ConsumerOption {
	return func(c *Consumer) { c.topics, c.handle = topics, fn }
}

// Retry delays of a Consumer: see WithRetryBackoff.
const (
	DefaultRetryMin = 100 * time.Millisecond
	DefaultRetryMax = 5 * time.Second
)

// WithRetryBackoff bounds the delay between attempts to apply a record while
// the database fails: exponential from min to max, each delay drawn
// between its half and itself (backoff.Policy with EqualJitter). A failed
// fetch pauses min (the Kafka reader paces its own retries).
// Default: DefaultRetryMin to DefaultRetryMax (100ms to 5s).
func WithRetryBackoff(min, max time.Duration) ConsumerOption {
	return func(c *Consumer) { c.retry.Initial, c.retry.Max = min, max }
}

// NewConsumer returns a consumer of the topics the store's pipeline
// projects (Topics(Store.Pipeline()): the steps' topics, the work
// completions counted as progress, video.transcode.chunks-done, and the
// dead-letter topics; not the other work topics) that applies each record
// to store. A nil logger means slog.Default().
func NewConsumer(cfg config.Kafka, store *Store, logger *slog.Logger, opts ...ConsumerOption) *Consumer {
	if logger == nil {
		logger = slog.Default()
	}
	topics := Topics(contract.DefaultPipeline())
	if store != nil {
		topics = Topics(store.Pipeline())
	}
	c := &Consumer{cfg: cfg, store: store, log: logger, group: DefaultGroup,
		topics:       topics,
		retry:        backoff.Policy{Initial: DefaultRetryMin, Max: DefaultRetryMax, EqualJitter: true},
		stallTimeout: 30 * time.Second}
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
	return groupread.Run(ctx, groupread.Config{
		Kafka: c.cfg, ClientID: uploadapi.Service, // as config.Load sets it
		Group: c.group, Topics: c.topics, StallTimeout: c.stallTimeout, FetchPause: c.retry.Initial,
		Name: "projection consumer", Logger: c.log, Ready: &c.ready, OnStall: func() { c.stalls.Add(1) },
	}, func(_ context.Context, m kafka.Message, _ func()) error {
		// Run's ctx, not the reader's: a stalled reader being replaced
		// does not interrupt an apply.
		return c.apply(ctx, m)
	})
}

// apply applies m, retrying transient errors until it succeeds or ctx is
// done (the only error it returns).
func (c *Consumer) apply(ctx context.Context, m kafka.Message) error {
	rec := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value,
		Headers: make([]contract.Header, len(m.Headers))}
	for i, h := range m.Headers {
		rec.Headers[i] = contract.Header{Key: h.Key, Value: h.Value}
	}
	handle := c.handle
	if handle == nil {
		handle = c.store.Apply
	}
	for attempt := 1; ; attempt++ {
		err := handle(ctx, rec)
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
		d := c.retry.Delay(attempt)
		c.log.Warn("projection consumer: apply failed, retrying", "topic", m.Topic, "partition", m.Partition,
			"offset", m.Offset, "attempt", attempt, "retry_in", d, "err", err)
		if !backoff.Sleep(ctx, d) {
			return ctx.Err()
		}
	}
}
