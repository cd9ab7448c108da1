package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/kafkaconn"
	"github.com/vidpipe/vidpipe/platform/topics"
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
	if len(c.cfg.Brokers) == 0 {
		return errors.New("projection consumer: no Kafka brokers configured")
	}
	clientID := c.cfg.ClientID
	if clientID == "" {
		clientID = uploadapi.Service // as config.Load sets it
	}
	dialer, err := kafkaconn.Dialer(c.cfg, &kafka.Dialer{ClientID: clientID, Timeout: 10 * time.Second, DualStack: true})
	if err != nil {
		return fmt.Errorf("projection consumer: %w", err)
	}
	transport, err := kafkaconn.Transport(c.cfg, &kafka.Transport{ClientID: clientID, DialTimeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("projection consumer: %w", err)
	}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Timeout: 10 * time.Second, Transport: transport}
	for {
		stalled := c.consume(ctx, dialer, client)
		if !stalled || ctx.Err() != nil {
			return nil
		}
		c.stalls.Add(1)
		c.log.Warn("projection consumer: no record applied while the group lags; starting a new reader",
			"stall_timeout", c.stallTimeout)
	}
}

// consume runs one reader until ctx is done (false) or the watchdog finds
// it stalled (true): the group has lag but no record was applied for
// stallTimeout. A kafka-go group reader can stay silent after a rebalance
// (seen after the API was killed -9 and restarted while the broker held
// requests); a new reader rejoins the group and resumes from the committed
// offsets, which is always safe: records are applied idempotently.
func (c *Consumer) consume(ctx context.Context, dialer *kafka.Dialer, client *kafka.Client) (stalled bool) {
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
		// Close can hang when the broker does not answer (kafka-go #1006).
		done := make(chan error, 1)
		go func() { done <- r.Close() }()
		select {
		case err := <-done:
			if err != nil {
				c.log.Warn("projection consumer: close reader", "err", err)
			}
		case <-time.After(10 * time.Second):
			c.log.Warn("projection consumer: closing the reader timed out; leaving it behind")
		}
	}()

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.watchJoin(rctx, r)
	var lastApplied atomic.Int64
	lastApplied.Store(time.Now().UnixNano())
	var stall atomic.Bool
	go c.watchdog(rctx, client, &lastApplied, func() { stall.Store(true); cancel() })

	for {
		m, err := r.FetchMessage(rctx)
		if err != nil {
			if rctx.Err() != nil {
				return stall.Load() && ctx.Err() == nil
			}
			// The reader retries on its own and paces itself (each
			// partition reader backs off between reconnects, the group
			// waits between joins); the errors it met are queued with
			// the records and returned one per call, many of them stale
			// once Kafka is back. A growing backoff per error would stall
			// the projection long after a short broker outage (28
			// partitions queue dozens of errors): pause briefly instead.
			d := c.retry.Initial
			c.log.Warn("projection consumer: fetch failed", "err", err, "retry_in", d)
			if !backoff.Sleep(rctx, d) {
				return stall.Load() && ctx.Err() == nil
			}
			continue
		}
		c.ready.Store(true)
		if err := c.apply(ctx, m); err != nil {
			return false // ctx done; the record stays uncommitted
		}
		lastApplied.Store(time.Now().UnixNano())
		// Commit even if ctx was cancelled meanwhile: the record is applied.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = r.CommitMessages(cctx, m)
		ccancel()
		if err != nil {
			// Harmless: the record is redelivered and Apply ignores it.
			c.log.Warn("projection consumer: commit failed", "topic", m.Topic, "partition", m.Partition,
				"offset", m.Offset, "err", err)
		}
		if ctx.Err() != nil {
			return false
		}
	}
}

// watchdog calls stalled when the group has lag while no record was
// applied for stallTimeout (topics.WatchStall).
func (c *Consumer) watchdog(ctx context.Context, client *kafka.Client, lastApplied *atomic.Int64, stalled func()) {
	topics.WatchStall(ctx, client, c.group, c.topics, c.stallTimeout, lastApplied, func(lag int64) {
		c.log.Warn("projection consumer: stalled", "lag", lag, "since_last_record", time.Since(time.Unix(0, lastApplied.Load())).Round(time.Second))
		stalled()
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
