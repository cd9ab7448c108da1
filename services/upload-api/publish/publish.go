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
	"io"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/kafkaconn"
	"github.com/vidpipe/vidpipe/platform/topics"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
)

// Options tune a Publisher. Zero values take the defaults.
type Options struct {
	// Service names the producer in ce_source (contract.SourceFor). Required.
	Service string
	// MaxAttempts bounds the produce requests of one Publish. Default:
	// api.publish_attempts's (uploadapi.DefaultAPI: 3).
	MaxAttempts int
	// Timeout bounds the produce attempts of one Publish, acknowledgement
	// included. Default: api.publish_timeout's (uploadapi.DefaultAPI:
	// 15s). A read-back after a failure (see Publish) gets up to
	// ReadBackTimeout more.
	Timeout time.Duration
	// ReadBackTimeout bounds reading the partition back after a failed
	// produce. Default: 10s.
	ReadBackTimeout time.Duration
}

// Publisher writes events synchronously: Publish returns once every
// in-sync replica acknowledged the record (acks=all), or with an *Error
// that says whether the record was written. It is safe for concurrent use.
//
// It produces with one request per attempt (kafka.Client.Produce) rather
// than a kafka.Writer, because a Writer keeps retrying a batch in the
// background after WriteMessages gave up: what happened to the record
// would never be known.
type Publisher struct {
	client      *kafka.Client
	transport   *kafka.Transport
	brokers     []string
	dialer      *kafka.Dialer
	source      string
	timeout     time.Duration
	readTimeout time.Duration
	attempts    int
}

// Outcome says what a failed Publish left in Kafka.
type Outcome int

const (
	// NotWritten: the record is known not to be in the topic (no produce
	// request was sent, or the partition was read back without it).
	NotWritten Outcome = iota + 1
	// Unknown: a produce request was sent, not acknowledged, and the
	// partition could not be read back. The record may be there.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case NotWritten:
		return "not written"
	case Unknown:
		return "unknown"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Error is a failed Publish.
type Error struct {
	Outcome Outcome
	// Attempt locates the record (Partition, From); zero when the
	// partition could not be determined (then Outcome is NotWritten).
	Attempt Attempt
	Err     error
}

func (e *Error) Error() string { return e.Err.Error() + " (record " + e.Outcome.String() + ")" }
func (e *Error) Unwrap() error { return e.Err }

// OutcomeOf returns the Outcome of a Publish error: NotWritten for
// errors that are not an *Error (nothing was sent), 0 for nil.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return 0
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Outcome
	}
	return NotWritten
}

// Attempt is a record about to be published and where it will land: the
// partition of its key (murmur2, as kafka-go's Murmur2Balancer and the Java
// client compute it) and that partition's high watermark before the
// record, so that a read-back from From finds it if it was written.
type Attempt struct {
	Msg       kafka.Message `json:"-"`
	Topic     string        `json:"topic"`
	Key       string        `json:"key"`
	EventID   string        `json:"ce_id"`
	Partition int           `json:"partition"`
	From      int64         `json:"from_offset"`
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
	def := uploadapi.DefaultAPI()
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = def.PublishAttempts
	}
	if opts.Timeout <= 0 {
		opts.Timeout = def.PublishTimeout
	}
	if opts.ReadBackTimeout <= 0 {
		opts.ReadBackTimeout = 10 * time.Second
	}
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = opts.Service
	}
	transport, err := kafkaconn.Transport(cfg, &kafka.Transport{ClientID: clientID, DialTimeout: 5 * time.Second, MetadataTTL: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	dialer, err := kafkaconn.Dialer(cfg, &kafka.Dialer{ClientID: clientID, Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	return &Publisher{
		client:      &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport},
		transport:   transport,
		brokers:     cfg.Brokers,
		dialer:      dialer,
		source:      contract.SourceFor(opts.Service),
		timeout:     opts.Timeout,
		readTimeout: opts.ReadBackTimeout,
		attempts:    opts.MaxAttempts,
	}, nil
}

// EventID returns the ce_id Publish gives e: deterministic for
// video.uploaded (contract.UploadedEventID: one upload is one logical event,
// however often it is published; for a reprocess's generation N,
// contract.GenerationEventID), for video.deleted (one per video: a
// repeated DELETE republishes the same event) and for video.updated (one
// per edit: video id and updated_at) and video.captions (one per track
// change: video id, language and updated_at), random otherwise.
func EventID(e contract.Event) string {
	switch ev := e.(type) {
	case contract.VideoUploaded:
		return contract.GenerationEventID(ev.VideoID, ev.Generation)
	case contract.VideoDeleted:
		return contract.DeriveID(contract.TopicDeleted, ev.VideoID)
	case contract.VideoUpdated:
		return contract.DeriveID(contract.TopicUpdated, ev.VideoID, ev.UpdatedAt.UTC().Format(time.RFC3339Nano))
	case contract.VideoCaptions:
		return contract.DeriveID(contract.TopicCaptions, ev.VideoID, ev.Language, ev.UpdatedAt.UTC().Format(time.RFC3339Nano))
	}
	return contract.NewID()
}

// Message returns the Kafka record for e: key = video id, value = the
// encoded event, CloudEvents headers (ce_id from EventID) and a fresh
// traceparent.
func (p *Publisher) Message(e contract.Event) (kafka.Message, error) {
	value, err := contract.Encode(e)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("publish %s: %w", e.EventType(), err)
	}
	now := time.Now()
	hs := contract.CloudEventHeaders(e, contract.Meta{
		ID:          EventID(e),
		Source:      p.source,
		Time:        now,
		Traceparent: NewTraceparent(),
	})
	headers := make([]kafka.Header, len(hs))
	for i, h := range hs {
		headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return kafka.Message{Topic: e.Topic(), Key: []byte(e.Key()), Value: value, Headers: headers, Time: now}, nil
}

// Partition returns the partition of key among partitions (sorted ids),
// exactly as kafka-go's Murmur2Balancer (and the Java client) choose it.
func Partition(key []byte, partitions []int) int {
	return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: key}, partitions...)
}

// Prepare encodes e and locates its record: partition and the partition's
// high watermark now. An error means nothing was sent.
func (p *Publisher) Prepare(ctx context.Context, e contract.Event) (Attempt, error) {
	msg, err := p.Message(e)
	if err != nil {
		return Attempt{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var last error
	for i := 0; i < p.attempts; i++ {
		if i > 0 && !retry.Wait(ctx, i) {
			break
		}
		a, err := p.locate(ctx, msg)
		if err == nil {
			return a, nil
		}
		p.reset()
		last = err
	}
	if last == nil {
		last = ctx.Err()
	}
	return Attempt{}, fmt.Errorf("publish %s %s: locate partition: %w", e.EventType(), e.Key(), last)
}

func (p *Publisher) locate(ctx context.Context, msg kafka.Message) (Attempt, error) {
	parts, err := topics.Partitions(ctx, p.client, msg.Topic)
	if err != nil {
		return Attempt{}, err
	}
	if len(parts) == 0 {
		return Attempt{}, fmt.Errorf("topic %s has no partitions", msg.Topic)
	}
	part := Partition(msg.Key, parts)
	hw, err := p.highWatermark(ctx, msg.Topic, part)
	if err != nil {
		return Attempt{}, err
	}
	return Attempt{Msg: msg, Topic: msg.Topic, Key: string(msg.Key), EventID: headerValue(msg, contract.HeaderID),
		Partition: part, From: hw}, nil
}

func (p *Publisher) highWatermark(ctx context.Context, topic string, part int) (int64, error) {
	lo, err := p.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(part)}}})
	if err != nil {
		return 0, fmt.Errorf("list offsets %s/%d: %w", topic, part, err)
	}
	for _, po := range lo.Topics[topic] {
		if po.Partition != part {
			continue
		}
		if po.Error != nil {
			return 0, fmt.Errorf("offsets %s/%d: %w", topic, part, po.Error)
		}
		return po.LastOffset, nil
	}
	return 0, fmt.Errorf("offsets %s/%d: no answer", topic, part)
}

// Send produces a.Msg to a.Partition (acks=all), trying up to
// Options.MaxAttempts times within Options.Timeout. A nil error means the
// record is in the topic: acknowledged, or found by a read-back after the
// produce failed (same key and ce_id at or after a.From). Otherwise the
// error is an *Error: NotWritten when the read-back shows the record is
// not there, Unknown when the partition could not be read back.
//
// Residual risk: a produce request still travelling to the broker when
// the read-back ends can land later; consumers must treat a
// video.uploaded whose source is gone as withdrawn (transcode does).
func (p *Publisher) Send(ctx context.Context, a Attempt) error {
	ctx = context.WithoutCancel(ctx)
	wctx, cancel := context.WithTimeout(ctx, p.timeout)
	var last error
	for i := 0; i < p.attempts; i++ {
		if i > 0 && !retry.Wait(wctx, i) {
			break
		}
		last = p.produce(wctx, a)
		if last == nil {
			cancel()
			return nil
		}
		p.reset()
		// The broker may have appended the record and failed the answer
		// (a lost ack, NOT_ENOUGH_REPLICAS_AFTER_APPEND): look before
		// producing a duplicate.
		if found, err := p.Written(wctx, a); err == nil && found {
			cancel()
			return nil
		}
	}
	cancel()
	if last == nil {
		last = wctx.Err()
	}
	err := fmt.Errorf("publish %s: %w", a.Key, last)
	rctx, rcancel := context.WithTimeout(ctx, p.readTimeout)
	defer rcancel()
	found, rerr := p.Written(rctx, a)
	switch {
	case rerr != nil:
		p.reset()
		return &Error{Outcome: Unknown, Attempt: a, Err: fmt.Errorf("%w; read-back: %v", err, rerr)}
	case found:
		return nil
	}
	return &Error{Outcome: NotWritten, Attempt: a, Err: err}
}

func (p *Publisher) produce(ctx context.Context, a Attempt) error {
	m := a.Msg
	hs := make([]kafka.Header, len(m.Headers))
	copy(hs, m.Headers)
	resp, err := p.client.Produce(ctx, &kafka.ProduceRequest{
		Topic: a.Topic, Partition: a.Partition, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(kafka.Record{Time: m.Time, Key: kafka.NewBytes(m.Key), Value: kafka.NewBytes(m.Value), Headers: hs}),
	})
	if err != nil {
		return err
	}
	if resp.Error != nil {
		return resp.Error
	}
	for _, rerr := range resp.RecordErrors {
		return rerr
	}
	return nil
}

// Written reads a's partition from a.From to its high watermark and
// reports whether a record with a's key and ce_id is there.
func (p *Publisher) Written(ctx context.Context, a Attempt) (bool, error) {
	offset := a.From
	for {
		resp, err := p.client.Fetch(ctx, &kafka.FetchRequest{
			Topic: a.Topic, Partition: a.Partition, Offset: offset,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 50 * time.Millisecond,
		})
		if err != nil {
			return false, fmt.Errorf("read back %s/%d at %d: %w", a.Topic, a.Partition, offset, err)
		}
		if errors.Is(resp.Error, kafka.OffsetOutOfRange) && resp.LogStartOffset > offset {
			offset = resp.LogStartOffset // retention removed the start: read what is left
			continue
		}
		if resp.Error != nil {
			return false, fmt.Errorf("read back %s/%d at %d: %w", a.Topic, a.Partition, offset, resp.Error)
		}
		next := offset
		for {
			r, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return false, fmt.Errorf("read back %s/%d at %d: %w", a.Topic, a.Partition, offset, err)
			}
			if r.Offset >= next {
				next = r.Offset + 1
			}
			if r.Offset < offset {
				continue
			}
			key, err := topics.RecordBytes(r.Key)
			if err != nil {
				return false, err
			}
			if string(key) != a.Key {
				continue
			}
			for _, h := range r.Headers {
				if h.Key == contract.HeaderID && string(h.Value) == a.EventID {
					return true, nil
				}
			}
		}
		if next >= resp.HighWatermark {
			return false, nil
		}
		if next == offset {
			// Nothing decodable below the high watermark (e.g. control
			// records): step over it.
			next = offset + 1
		}
		offset = next
	}
}

// Publish writes e to its topic (Prepare, then Send) and waits for the
// acknowledgement. It returns the record. An error is an *Error whose
// Outcome says whether the record may be in the topic.
func (p *Publisher) Publish(ctx context.Context, e contract.Event) (kafka.Message, error) {
	a, err := p.Prepare(context.WithoutCancel(ctx), e)
	if err != nil {
		return a.Msg, &Error{Outcome: NotWritten, Err: err}
	}
	return a.Msg, p.Send(ctx, a)
}

func headerValue(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// retry paces the attempts of Prepare and Send: 100ms, 200ms, … up to 1s,
// without jitter (the attempts are few and bounded by Options.Timeout).
var retry = backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second}

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

// reset drops the transport's connection pools: a kafka-go pool caches a
// failed metadata request (and dead connections) until its MetadataTTL,
// so after an outage the next call would fail for up to 30s although the
// broker is back.
func (p *Publisher) reset() { p.transport.CloseIdleConnections() }

// Close releases the publisher's connections.
func (p *Publisher) Close() error {
	p.transport.CloseIdleConnections()
	return nil
}

// NewTraceparent returns a W3C trace context header value for a new trace
// (version 00, random trace and span ids, sampled).
func NewTraceparent() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}
