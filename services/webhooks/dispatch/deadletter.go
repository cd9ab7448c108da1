package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/kafkaconn"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
)

// DeadLetterWriter produces webhook dead letters.
type DeadLetterWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// NewDeadLetterWriter returns an acks=all producer to webhooks.dlq,
// partitioned by key like the services' producers (murmur2).
func NewDeadLetterWriter(k config.Kafka) (*kafka.Writer, error) {
	tr, err := kafkaconn.Transport(k, &kafka.Transport{ClientID: string(contract.StageWebhooks), DialTimeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("webhook dead letters: %w", err)
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(k.Brokers...),
		Topic:        contract.TopicWebhooksDLQ,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, // a zero Writer is acks=none
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  3,
		Transport:    tr,
	}, nil
}

// DeadLetterMessage is the webhooks.dlq record of an exhausted delivery:
// the event in CloudEvents binary mode (ce_* headers, the event's data as
// value; key the video id), the webhook.* headers naming the delivery, and
// the dlq.* headers (stage "webhooks", dlq.topic the event's topic,
// partition and offset -1, the last attempt's outcome as dlq.error, class
// exhausted). A redrive (vidpipectl dlq redrive webhooks) puts it on
// webhooks.redrive.
func DeadLetterMessage(d endpoints.DeadLetterJob, failedAt time.Time) (kafka.Message, error) {
	ce, err := Decode(d.Event.Body)
	if err != nil {
		return kafka.Message{}, err
	}
	hs := []contract.Header{
		{Key: contract.HeaderSpecVersion, Value: []byte(contract.SpecVersion)},
		{Key: contract.HeaderID, Value: []byte(d.Event.ID)},
		{Key: contract.HeaderType, Value: []byte(ce.Type)},
		{Key: contract.HeaderSource, Value: []byte(ce.Source)},
		{Key: contract.HeaderTime, Value: []byte(ce.Time.UTC().Format(time.RFC3339Nano))},
		{Key: contract.HeaderSubject, Value: []byte(ce.Subject)},
		{Key: contract.HeaderContentType, Value: []byte(contract.ContentType)},
		{Key: contract.HeaderWebhookEndpoint, Value: []byte(d.EndpointID)},
		{Key: contract.HeaderWebhookEventID, Value: []byte(d.Event.ID)},
		{Key: contract.HeaderWebhookEventType, Value: []byte(d.Event.Type)},
	}
	reason := d.Outcome.Err
	if reason == "" {
		reason = "failed"
	}
	hs = contract.DeadLetter{Stage: contract.StageWebhooks, Topic: d.Event.Topic, Partition: -1, Offset: -1, Group: Group,
		Err:   fmt.Sprintf("delivery to %s failed for the retry horizon (%d attempts); last: %s", d.URL, d.Attempts, reason),
		Class: contract.ErrorClassExhausted, Code: contract.ErrorCodeInternal, Attempts: d.Attempts, FailedAt: failedAt}.Headers(hs)
	kh := make([]kafka.Header, len(hs))
	for i, h := range hs {
		kh[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	value := []byte(ce.Data)
	if !json.Valid(value) {
		value = d.Event.Body
	}
	return kafka.Message{Key: []byte(d.Event.VideoID), Value: value, Headers: kh}, nil
}

// deadLetter produces the exhausted deliveries to webhooks.dlq and marks
// them dead-lettered (at least once: a crash in between produces one
// again, with the same webhook.event_id and endpoint).
func (d *Deliverer) deadLetter(ctx context.Context) {
	if d.opts.DeadLetters == nil {
		return
	}
	d.dlMu.Lock()
	defer d.dlMu.Unlock()
	jobs, err := d.store.Exhausted(ctx, 100)
	if err != nil {
		if ctx.Err() == nil {
			d.opts.Logger.Warn("read exhausted webhook deliveries", "err", err)
		}
		return
	}
	for _, j := range jobs {
		log := d.opts.Logger.With("delivery", j.DeliveryID, "endpoint", j.EndpointID, "event", j.Event.ID)
		if len(j.Event.Body) == 0 {
			log.Warn("exhausted webhook delivery whose event is gone: not dead-lettered")
			_ = d.store.MarkDeadLettered(ctx, j.DeliveryID)
			continue
		}
		msg, err := DeadLetterMessage(j, time.Now())
		if err != nil {
			log.Warn("build webhook dead letter", "err", err)
			continue
		}
		if err := d.opts.DeadLetters.WriteMessages(ctx, msg); err != nil {
			log.Warn("produce webhook dead letter; retried later", "err", err)
			return
		}
		if err := d.store.MarkDeadLettered(ctx, j.DeliveryID); err != nil {
			log.Warn("mark webhook delivery dead-lettered", "err", err)
			return
		}
		d.opts.Metrics.deadLettered.Inc()
		log.Info("webhook delivery dead-lettered", "topic", contract.TopicWebhooksDLQ)
	}
}
