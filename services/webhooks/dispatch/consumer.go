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
	"github.com/vidpipe/vidpipe/platform/groupread"
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
	return groupread.Run(ctx, groupread.Config{
		Kafka: c.kafka, ClientID: string(contract.StageWebhooks),
		Group: c.group, Topics: c.topics, StallTimeout: c.stallTimeout, FetchPause: c.retry.Initial,
		Name: "webhooks consumer", Logger: c.log, Ready: &c.ready, OnStall: c.metrics.stalls.Inc,
	}, c.record)
}

// record records m, retrying database errors with backoff until it
// succeeds or ctx is done (its only error); a record that is no user's
// event (ErrSkip) or that PostgreSQL refuses is logged and skipped.
func (c *Consumer) record(ctx context.Context, m kafka.Message, alive func()) error {
	for attempt := 1; ; attempt++ {
		err := c.apply(ctx, m)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrSkip) {
			c.log.Info("webhooks consumer: record skipped", "reason", err)
			return nil
		}
		if refused(err) {
			// PostgreSQL refuses the data itself: retrying cannot help.
			c.log.Error("webhooks consumer: record refused by the database, skipped", "topic", m.Topic,
				"partition", m.Partition, "offset", m.Offset, "err", err)
			return nil
		}
		c.log.Warn("webhooks consumer: record not recorded, retrying", "topic", m.Topic, "partition", m.Partition,
			"offset", m.Offset, "attempt", attempt, "err", err)
		alive() // the database is down: no stall of the reader
		if !c.retry.Wait(ctx, attempt) {
			return ctx.Err()
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
