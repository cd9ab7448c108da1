package stage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/events"
)

// Handler processes one input event and returns the next one. It must be
// idempotent: a record can be delivered more than once (at-least-once), and
// re-processing must produce the same objects and an equivalent event.
// Return Permanent(err) for input that can never succeed; any other error
// is retried up to Runtime.MaxAttempts. ctx is cancelled when the attempt
// times out (Runtime.AttemptTimeout) or the shutdown grace runs out.
type Handler[In, Out events.Event] func(ctx context.Context, in In) (Out, error)

// fetchErrorPause is the pause after a failed fetch (see member).
const fetchErrorPause = 100 * time.Millisecond

// now is the clock; tests may replace it.
var now = time.Now

// Run runs the stage until ctx is cancelled, then shuts down gracefully and
// returns nil. It returns an error only for invalid options or when the
// HTTP listener cannot start.
func Run[In, Out events.Event](ctx context.Context, opts Options, h Handler[In, Out]) error {
	if err := opts.setDefaults(); err != nil {
		return err
	}
	r := &runner[In, Out]{opts: opts, handler: h, log: opts.Logger.With("stage", string(opts.Stage))}
	return r.run(ctx)
}

type runner[In, Out events.Event] struct {
	opts    Options
	handler Handler[In, Out]
	log     *slog.Logger
	client  *kafka.Client
	writer  *kafka.Writer
	metrics *metrics
	health  *health
}

func (r *runner[In, Out]) run(ctx context.Context) error {
	o := &r.opts
	transport := &kafka.Transport{ClientID: o.Kafka.ClientID, DialTimeout: 5 * time.Second, MetadataTTL: 30 * time.Second}
	defer transport.CloseIdleConnections()
	r.client = &kafka.Client{Addr: kafka.TCP(o.Kafka.Brokers...), Timeout: 10 * time.Second, Transport: transport}
	lag := newLagCollector(r.client, string(o.Stage), o.Group, o.InputTopic, r.log)
	r.metrics = newMetrics(o.Registry, string(o.Stage), lag)
	r.writer = &kafka.Writer{
		Addr:         kafka.TCP(o.Kafka.Brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, // a zero Writer is acks=none
		BatchTimeout: o.Runtime.BatchTimeout,
		MaxAttempts:  3,
		Transport:    transport,
	}
	defer r.writer.Close()

	checks := append([]Check{{Name: "kafka", Fn: r.kafkaCheck}}, o.Checks...)
	r.health = newHealth(checks, r.metrics.ready, r.log)
	srv, err := serveHTTP(o.Runtime.HTTPAddr, r.health, o.Registry, r.log)
	if err != nil {
		return err
	}
	defer shutdownHTTP(srv)
	if o.Listening != nil {
		o.Listening(srv.Addr)
	}

	// Startup: wait until Kafka and every dependency answer.
	for attempt := 1; !r.health.checkAll(ctx); attempt++ {
		d := BackoffCap(attempt, 250*time.Millisecond, 2*time.Second)
		r.log.Info("waiting for dependencies", "retry_in", d, "failing", r.health.failing())
		if !sleep(ctx, d) {
			return nil
		}
	}
	stopChecks := r.health.loop(ctx, 5*time.Second)
	defer stopChecks()

	// work is cancelled ShutdownGrace after ctx: in-flight attempts get that
	// long to finish once shutdown starts.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	go func() {
		<-ctx.Done()
		t := time.NewTimer(o.Runtime.ShutdownGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancelWork()
		case <-work.Done():
		}
	}()

	r.log.Info("stage started", "group", o.Group, "input", o.InputTopic, "output", o.OutputTopic,
		"dlq", o.DLQTopic, "concurrency", o.Runtime.Concurrency, "http", srv.Addr)
	var wg sync.WaitGroup
	for i := 0; i < o.Runtime.Concurrency; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			r.member(ctx, work, id)
		}(i)
	}
	r.health.setStarted(true)
	<-ctx.Done()
	r.health.setStarted(false)
	r.log.Info("shutting down: stopped fetching", "grace", o.Runtime.ShutdownGrace)
	wg.Wait()
	r.log.Info("stage stopped")
	return nil
}

func (r *runner[In, Out]) kafkaCheck(ctx context.Context) error {
	md, err := r.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.opts.InputTopic, r.opts.OutputTopic, r.opts.DLQTopic}})
	if err != nil {
		return err
	}
	for _, t := range md.Topics {
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
	}
	return nil
}

// member is one consumer-group member: fetch, process, commit, until ctx
// is cancelled or an attempt is aborted by the end of the shutdown grace.
func (r *runner[In, Out]) member(ctx, work context.Context, id int) {
	o := &r.opts
	log := r.log.With("member", id)
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           o.Kafka.Brokers,
		GroupID:           o.Group,
		Topic:             o.InputTopic,
		Dialer:            &kafka.Dialer{ClientID: o.Kafka.ClientID, Timeout: 5 * time.Second, DualStack: true},
		MinBytes:          1,
		MaxBytes:          4 << 20,
		MaxWait:           2 * time.Second, // long poll; Close can block up to MaxWait. Shorter waits leave kafka-go too little slack (it asks the broker for MaxWait-RTT) and time out idle fetches
		ReadBatchTimeout:  2 * time.Second,
		CommitInterval:    o.Runtime.CommitInterval,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    o.SessionTimeout,
		RebalanceTimeout:  o.RebalanceTimeout,
		JoinGroupBackoff:  time.Second,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		QueueCapacity:     8,
		MaxAttempts:       3,
		Logger:            kafka.LoggerFunc(func(msg string, args ...any) { log.Debug(fmt.Sprintf(msg, args...)) }),
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { log.Warn(fmt.Sprintf(msg, args...)) }),
	})
	defer func() {
		// Close flushes pending commits and leaves the group.
		if err := reader.Close(); err != nil {
			log.Warn("closing reader", "err", err)
		}
	}()
	for {
		m, err := reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The reader paces its own reconnects (ReadBackoffMin/Max) and
			// queues the errors it met meanwhile; after an outage they come
			// out one per call. Backing off on each stale one would keep the
			// member idle long after the broker is back, so pause briefly.
			log.Warn("fetch failed", "err", err)
			if !sleep(ctx, fetchErrorPause) {
				return
			}
			continue
		}
		if !r.process(ctx, work, m) {
			log.Warn("record abandoned at shutdown; it will be redelivered", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
			return
		}
		if !r.commit(work, reader, m) {
			return
		}
	}
}

// commit commits m, retrying until it succeeds or work is cancelled.
func (r *runner[In, Out]) commit(work context.Context, reader *kafka.Reader, m kafka.Message) bool {
	for attempt := 1; ; attempt++ {
		err := reader.CommitMessages(work, m)
		if err == nil {
			return true
		}
		r.metrics.commitErrors.Inc()
		if work.Err() != nil {
			return false
		}
		d := Backoff(attempt, 100*time.Millisecond, 5*time.Second, nil)
		r.log.Warn("commit failed", "err", err, "partition", m.Partition, "offset", m.Offset, "retry_in", d)
		if !sleep(work, d) {
			return false
		}
	}
}

// process handles one record to completion: published output or dead
// letter. It returns false when the record was abandoned because of
// shutdown (it must then not be committed).
func (r *runner[In, Out]) process(ctx, work context.Context, m kafka.Message) bool {
	r.metrics.inFlight.Inc()
	defer r.metrics.inFlight.Dec()
	o := &r.opts
	log := r.log.With("key", string(m.Key), "partition", m.Partition, "offset", m.Offset)
	in, err := r.decode(m)
	if err != nil {
		log.Warn("undecodable record", "err", err)
		return r.deadLetter(work, m, err, events.ErrorClassPermanent, 0)
	}
	trace := events.HeaderValue(FromKafkaHeaders(m.Headers), events.HeaderTraceparent)
	log = log.With("trace_id", events.TraceID(trace))
	for attempt := 1; ; attempt++ {
		out, err, dur := r.attempt(work, in)
		if err == nil {
			r.metrics.duration.WithLabelValues("ok").Observe(dur.Seconds())
			msg, merr := NewMessage(out, o.Service, trace)
			if merr == nil && out.Key() != in.Key() {
				merr = fmt.Errorf("output key %q differs from input key %q", out.Key(), in.Key())
			}
			if merr != nil {
				err = Permanent(fmt.Errorf("handler returned an invalid event: %w", merr))
			} else {
				msg.Topic = o.OutputTopic
				if !r.publish(work, msg, "output") {
					return false
				}
				r.metrics.messages.WithLabelValues(OutcomeOK).Inc()
				log.Info("processed", "attempt", attempt, "duration", dur.Round(time.Millisecond))
				return true
			}
		} else {
			r.metrics.duration.WithLabelValues("error").Observe(dur.Seconds())
		}
		if work.Err() != nil {
			return false // the grace ran out and cancelled the attempt
		}
		if IsPermanent(err) {
			log.Warn("permanent failure", "attempt", attempt, "err", err)
			return r.deadLetter(work, m, err, events.ErrorClassPermanent, attempt)
		}
		if attempt >= o.Runtime.MaxAttempts {
			log.Warn("retries exhausted", "attempt", attempt, "err", err)
			return r.deadLetter(work, m, err, events.ErrorClassExhausted, attempt)
		}
		r.metrics.messages.WithLabelValues(OutcomeRetried).Inc()
		d := Backoff(attempt, o.Runtime.BackoffInitial, o.Runtime.BackoffMax, nil)
		log.Warn("attempt failed, retrying", "attempt", attempt, "err", err, "retry_in", d)
		if !sleep(ctx, d) {
			return false // shutting down: leave the record for redelivery
		}
	}
}

// attempt runs the handler once under the attempt timeout; a panic becomes
// an error (retried like any other).
func (r *runner[In, Out]) attempt(work context.Context, in In) (out Out, err error, d time.Duration) {
	actx, cancel := context.WithTimeout(work, r.opts.Runtime.AttemptTimeout)
	defer cancel()
	start := time.Now()
	defer func() {
		d = time.Since(start)
		if p := recover(); p != nil {
			r.log.Error("handler panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	out, err = r.handler(actx, in)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && actx.Err() != nil && work.Err() == nil {
		err = fmt.Errorf("attempt timed out after %s: %w", r.opts.Runtime.AttemptTimeout, err)
	}
	return out, err, d
}

// ErrNoKey is the reason for dead-lettering a record without a key.
var ErrNoKey = errors.New("record has no key (the key must be the video id)")

func (r *runner[In, Out]) decode(m kafka.Message) (In, error) {
	var zero In
	if len(m.Key) == 0 {
		return zero, ErrNoKey
	}
	in, err := events.Decode[In](m.Value)
	if err != nil {
		return zero, err
	}
	if in.Key() != string(m.Key) {
		return zero, fmt.Errorf("record key %q does not match video_id %q", m.Key, in.Key())
	}
	return in, nil
}

// deadLetter publishes m to the DLQ with the dlq.* headers.
func (r *runner[In, Out]) deadLetter(work context.Context, m kafka.Message, cause error, class string, attempts int) bool {
	dl := events.DeadLetter{
		Stage: r.opts.Stage, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Group: r.opts.Group, Err: cause.Error(), Class: class, Attempts: attempts, FailedAt: now(),
	}
	msg := kafka.Message{
		Topic:   r.opts.DLQTopic,
		Key:     m.Key,
		Value:   m.Value,
		Headers: ToKafkaHeaders(dl.Headers(FromKafkaHeaders(m.Headers))),
	}
	if !r.publish(work, msg, "dlq") {
		return false
	}
	r.metrics.messages.WithLabelValues(OutcomeDeadLettered).Inc()
	r.log.Warn("dead-lettered", "key", string(m.Key), "class", class, "attempts", attempts, "err", cause, "dlq", r.opts.DLQTopic)
	return true
}

// publish writes msg with acks=all, retrying until it is acknowledged or
// work is cancelled. A record is never dropped: while this retries, the
// input offset is not committed.
func (r *runner[In, Out]) publish(work context.Context, msg kafka.Message, kind string) bool {
	for attempt := 1; ; attempt++ {
		err := r.writer.WriteMessages(work, msg)
		if err == nil {
			return true
		}
		if work.Err() != nil {
			return false
		}
		r.metrics.publishRetries.WithLabelValues(kind).Inc()
		d := Backoff(attempt, 200*time.Millisecond, 10*time.Second, nil)
		r.log.Warn("publish failed, retrying", "kind", kind, "topic", msg.Topic, "key", string(msg.Key), "err", err, "retry_in", d)
		if !sleep(work, d) {
			return false
		}
	}
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
