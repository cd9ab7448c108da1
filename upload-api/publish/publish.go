// Package publish produces vidpipe events to Kafka the way the contract
// requires: acks from all in-sync replicas, murmur2 partitioning on the
// video id, CloudEvents binary-mode headers and a W3C traceparent.
package publish

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/config"
)

// Options tune a Publisher. Zero values take the defaults.
type Options struct {
	// Service names the producer in ce_source (events.SourceFor). Required.
	Service string
	// BatchTimeout is how long the writer lingers to batch records. Default: 2ms.
	BatchTimeout time.Duration
	// MaxAttempts bounds the writer's tries of one batch. Default: 3.
	MaxAttempts int
	// Timeout bounds one Publish call, acknowledgement included. Default: 15s.
	Timeout time.Duration
}

// Publisher writes events synchronously: Publish returns once every
// in-sync replica acknowledged the record (acks=all), or with an error. It
// is safe for concurrent use; concurrent calls share batches.
type Publisher struct {
	w       *kafka.Writer
	brokers []string
	dialer  *kafka.Dialer
	source  string
	timeout time.Duration
}

// New returns a Publisher for the brokers in cfg. It does not connect until
// the first Publish or Ping.
func New(cfg config.Kafka, opts Options) (*Publisher, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("publish: no Kafka brokers configured")
	}
	if opts.Service == "" {
		return nil, errors.New("publish: Options.Service is required")
	}
	if opts.BatchTimeout <= 0 {
		opts.BatchTimeout = 2 * time.Millisecond
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = opts.Service
	}
	transport := &kafka.Transport{ClientID: clientID, DialTimeout: 5 * time.Second, MetadataTTL: 30 * time.Second}
	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...),
		// The Java client's default partitioner, so every tool agrees on
		// where a video's events live.
		Balancer: &kafka.Murmur2Balancer{},
		// A zero Writer is acks=none: insist on every in-sync replica.
		RequiredAcks: kafka.RequireAll,
		// kafka-go lingers 1s by default; an upload waits for its ack.
		BatchTimeout:           opts.BatchTimeout,
		MaxAttempts:            opts.MaxAttempts,
		WriteBackoffMin:        100 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		AllowAutoTopicCreation: false,
		Transport:              transport,
	}
	return &Publisher{
		w:       w,
		brokers: cfg.Brokers,
		dialer:  &kafka.Dialer{ClientID: clientID, Timeout: 5 * time.Second},
		source:  events.SourceFor(opts.Service),
		timeout: opts.Timeout,
	}, nil
}

// Message returns the Kafka record for e: key = video id, value = the
// encoded event, CloudEvents headers with a fresh ce_id and traceparent.
func (p *Publisher) Message(e events.Event) (kafka.Message, error) {
	value, err := events.Encode(e)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("publish %s: %w", e.EventType(), err)
	}
	hs := events.CloudEventHeaders(e, events.Meta{
		ID:          events.NewID(),
		Source:      p.source,
		Time:        time.Now(),
		Traceparent: NewTraceparent(),
	})
	headers := make([]kafka.Header, len(hs))
	for i, h := range hs {
		headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return kafka.Message{Topic: e.Topic(), Key: []byte(e.Key()), Value: value, Headers: headers}, nil
}

// Publish writes e to its topic and waits for the acknowledgement, at most
// Options.Timeout. It returns the record as written. An error means the
// record may or may not have been written (a timeout after the broker
// stored it); callers treat it as not written and retrying is safe because
// consumers are idempotent.
func (p *Publisher) Publish(ctx context.Context, e events.Event) (kafka.Message, error) {
	msg, err := p.Message(e)
	if err != nil {
		return msg, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.w.WriteMessages(ctx, msg); err != nil {
		return msg, fmt.Errorf("publish %s %s: %w", e.EventType(), e.Key(), err)
	}
	return msg, nil
}

// Ping checks that a broker answers and that topic has partitions (for
// readiness). It dials the brokers itself, one after the other, so that no
// cached metadata can hide an outage.
func (p *Publisher) Ping(ctx context.Context, topic string) error {
	var errs []error
	for _, addr := range p.brokers {
		conn, err := p.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		parts, err := conn.ReadPartitions(topic)
		_ = conn.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("partitions of %s via %s: %w", topic, addr, err))
			continue
		}
		if len(parts) == 0 {
			return fmt.Errorf("kafka topic %s has no partitions", topic)
		}
		return nil
	}
	return fmt.Errorf("kafka: no broker answered: %w", errors.Join(errs...))
}

// Close flushes and closes the writer.
func (p *Publisher) Close() error {
	if err := p.w.Close(); err != nil {
		return fmt.Errorf("publish: close writer: %w", err)
	}
	return nil
}

// NewTraceparent returns a W3C trace context header value for a new trace
// (version 00, random trace and span ids, sampled).
func NewTraceparent() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}
