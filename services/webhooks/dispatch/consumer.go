package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/kafkaconn"
	"github.com/vidpipe/vidpipe/platform/topics"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
)

// Group is the consumer group of the webhooks service.
var Group = contract.StageWebhooks.Group()

// Consumer records events from Kafka and enqueues their deliveries.
type Consumer struct {
	kafka   config.Kafka
	store   *endpoints.Store
	log     *slog.Logger
	metrics *Metrics
	group   string
	topics  []string
	retry   backoff.Policy
	ready   atomic.Bool
	// stallTimeout: with lag and nothing recorded for this long, the
	// reader is replaced (see consume). Default: 30s.
	stallTimeout time.Duration
}

// NewConsumer returns a consumer of Topics(contract.DefaultPipeline()) in
// group Group that records into store. metrics may be nil.
func NewConsumer(k config.Kafka, store *endpoints.Store, metrics *Metrics, log *slog.Logger) *Consumer {
	if log == nil {
		log = slog.Default()
	}
	if metrics == nil {
		metrics = NewMetrics()
	}
	return &Consumer{kafka: k, store: store, log: log, metrics: metrics, group: Group,
		topics:       Topics(contract.DefaultPipeline()),
		retry:        backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, EqualJitter: true},
		stallTimeout: 30 * time.Second}
}

// Ready reports whether the consumer has joined its group or fetched a
// record (it stays true: a later broker outage shows as lag).
func (c *Consumer) Ready() bool { return c.ready.Load() }

// Run consumes until ctx is done and returns nil then; it returns an error
// only for an unusable configuration.
//
// At least once: a record's offset is committed only after its event is
// recorded and its deliveries enqueued (or its redrive applied), both
// idempotent. A database error is retried with backoff until it succeeds
// (the records after it wait); a record that is no user's event (no
// owner, not JSON) is logged and committed past.
func (c *Consumer) Run(ctx context.Context) error {
	if len(c.kafka.Brokers) == 0 {
		return errors.New("webhooks consumer: no Kafka brokers configured")
	}
	clientID := c.kafka.ClientID
	if clientID == "" {
		clientID = string(contract.StageWebhooks)
	}
	dialer, err := kafkaconn.Dialer(c.kafka, &kafka.Dialer{ClientID: clientID, Timeout: 10 * time.Second, DualStack: true})
	if err != nil {
		return fmt.Errorf("webhooks consumer: %w", err)
	}
	transport, err := kafkaconn.Transport(c.kafka, &kafka.Transport{ClientID: clientID, DialTimeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("webhooks consumer: %w", err)
	}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.kafka.Brokers...), Timeout: 10 * time.Second, Transport: transport}
	for {
		stalled := c.consume(ctx, dialer, client)
		if !stalled || ctx.Err() != nil {
			return nil
		}
		c.metrics.stalls.Inc()
		c.log.Warn("webhooks consumer: nothing recorded while the group lags; starting a new reader", "stall_timeout", c.stallTimeout)
	}
}

// consume runs one reader until ctx is done (false) or the watchdog finds
// it stalled (true): the group has lag but no record was recorded for
// stallTimeout. A kafka-go group reader can stay silent after a rebalance
// (the status projection met it); a new reader rejoins the group and
// resumes from the committed offsets, which is safe: records are recorded
// idempotently.
func (c *Consumer) consume(ctx context.Context, dialer *kafka.Dialer, client *kafka.Client) (stalled bool) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:               c.kafka.Brokers,
		GroupID:               c.group,
		GroupTopics:           c.topics,
		StartOffset:           kafka.FirstOffset,
		CommitInterval:        0, // synchronous: commit only what is recorded
		MinBytes:              1,
		MaxBytes:              4 << 20,
		MaxWait:               2 * time.Second,
		WatchPartitionChanges: true,
		Dialer:                dialer,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.log.Warn("webhooks consumer: kafka: " + fmt.Sprintf(msg, args...))
		}),
	})
	defer func() {
		done := make(chan error, 1)
		go func() { done <- r.Close() }()
		select {
		case err := <-done:
			if err != nil {
				c.log.Warn("webhooks consumer: close reader", "err", err)
			}
		case <-time.After(10 * time.Second):
			c.log.Warn("webhooks consumer: closing the reader timed out; leaving it behind")
		}
	}()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.watchJoin(rctx, r)
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var stall atomic.Bool
	go c.watchdog(rctx, client, &last, func() { stall.Store(true); cancel() })
	stopped := func() bool { return stall.Load() && ctx.Err() == nil }
	for {
		m, err := r.FetchMessage(rctx)
		if err != nil {
			if rctx.Err() != nil {
				return stopped()
			}
			c.log.Warn("webhooks consumer: fetch failed", "err", err)
			if !backoff.Sleep(rctx, c.retry.Initial) {
				return stopped()
			}
			continue
		}
		c.ready.Store(true)
		for attempt := 1; ; attempt++ {
			err := c.apply(rctx, m)
			if err == nil {
				break
			}
			if errors.Is(err, ErrSkip) {
				c.log.Info("webhooks consumer: record skipped", "reason", err)
				break
			}
			if refused(err) {
				// PostgreSQL refuses the data itself: retrying cannot help.
				c.log.Error("webhooks consumer: record refused by the database, skipped", "topic", m.Topic,
					"partition", m.Partition, "offset", m.Offset, "err", err)
				break
			}
			c.log.Warn("webhooks consumer: record not recorded, retrying", "topic", m.Topic, "partition", m.Partition,
				"offset", m.Offset, "attempt", attempt, "err", err)
			last.Store(time.Now().UnixNano()) // the database is down: no stall of the reader
			if !c.retry.Wait(rctx, attempt) {
				return stopped()
			}
		}
		last.Store(time.Now().UnixNano())
		// Commit even if ctx ended meanwhile: the record is recorded. A
		// failed commit is harmless: the record comes again and is
		// recorded idempotently.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := r.CommitMessages(cctx, m); err != nil {
			c.log.Warn("webhooks consumer: commit failed", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
		}
		ccancel()
		if rctx.Err() != nil {
			return stopped()
		}
	}
}

// watchdog calls stalled when the group has lag while nothing was
// recorded for stallTimeout (topics.WatchStall).
func (c *Consumer) watchdog(ctx context.Context, client *kafka.Client, last *atomic.Int64, stalled func()) {
	topics.WatchStall(ctx, client, c.group, c.topics, c.stallTimeout, last, func(lag int64) {
		c.log.Warn("webhooks consumer: stalled", "lag", lag)
		stalled()
	})
}

// watchJoin sets Ready once the reader has joined its group (a
// rebalance) or fetched a record.
func (c *Consumer) watchJoin(ctx context.Context, r *kafka.Reader) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for !c.ready.Load() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if st := r.Stats(); (st.Rebalances > 0 || st.Messages > 0) && c.ready.CompareAndSwap(false, true) {
				c.log.Info("webhooks consumer: joined group", "group", c.group)
			}
		}
	}
}

// refused reports whether err is PostgreSQL refusing the values
// (SQLSTATE class 22, data exception, e.g. a NUL byte in text), as
// opposed to the database being unreachable or busy.
func refused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22")
}

// apply records one record: an event, or a redrive.
func (c *Consumer) apply(ctx context.Context, m kafka.Message) error {
	if m.Topic == contract.TopicWebhooksRedrive {
		return c.redrive(ctx, m)
	}
	e, err := FromRecord(ctx, m, c.store.OwnerOf)
	if err != nil {
		return err
	}
	n, err := c.store.Record(ctx, e)
	if err != nil {
		return err
	}
	c.metrics.events.WithLabelValues(e.Type).Inc()
	if n > 0 {
		c.log.Debug("webhook deliveries enqueued", "event", e.ID, "type", e.Type, "video", e.VideoID, "deliveries", n)
	}
	return nil
}

// redrive enqueues again the delivery a webhooks.redrive record names
// (headers webhook.endpoint_id and webhook.event_id; ce_id is the
// redrive's own id, applied once). When the event has left the event log
// meanwhile, it is restored from the record (CloudEvents headers + value).
func (c *Consumer) redrive(ctx context.Context, m kafka.Message) error {
	hs := headers(m)
	endpointID := contract.HeaderValue(hs, contract.HeaderWebhookEndpoint)
	eventID := contract.HeaderValue(hs, contract.HeaderWebhookEventID)
	eventType := contract.HeaderValue(hs, contract.HeaderWebhookEventType)
	redriveID := contract.HeaderValue(hs, contract.HeaderID)
	if endpointID == "" || eventID == "" || eventType == "" {
		return fmt.Errorf("%w: redrive record %d@%d lacks %s, %s or %s", ErrSkip, m.Partition, m.Offset,
			contract.HeaderWebhookEndpoint, contract.HeaderWebhookEventID, contract.HeaderWebhookEventType)
	}
	if _, ok, err := c.store.EventByID(ctx, eventID); err != nil {
		return err
	} else if !ok {
		e, err := eventFromDeadLetter(m, hs, eventID, eventType)
		if err != nil {
			return err
		}
		if err := c.store.Restore(ctx, e); err != nil {
			return err
		}
	}
	applied, err := c.store.Redrive(ctx, endpointID, eventID, eventType, redriveID)
	if err != nil {
		return err
	}
	c.log.Info("webhook delivery redriven", "endpoint", endpointID, "event", eventID, "applied", applied)
	return nil
}

// eventFromDeadLetter rebuilds an event from a webhook dead letter (the
// event in CloudEvents binary mode: ce_* headers and the data as value).
func eventFromDeadLetter(m kafka.Message, hs []contract.Header, eventID, eventType string) (endpoints.Event, error) {
	var env envelope
	if json.Unmarshal(m.Value, &env) != nil || env.Owner == "" || !contract.IsUUID(env.VideoID) {
		return endpoints.Event{}, fmt.Errorf("%w: redrive of %s: event no longer recorded and the record's value has no video_id and owner", ErrSkip, eventID)
	}
	t, err := time.Parse(time.RFC3339Nano, contract.HeaderValue(hs, contract.HeaderTime))
	if err != nil {
		t = m.Time
	}
	return build(eventID, contract.HeaderValue(hs, contract.HeaderSource), contract.HeaderValue(hs, contract.HeaderType),
		eventType, contract.HeaderValue(hs, contract.HeaderDLQTopic), env.VideoID, env.Owner, t, m.Value)
}
