package stage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/platform/kafkaconn"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// Handler processes one input event and returns the next one. It must be
// idempotent: a record can be delivered more than once (at-least-once), and
// re-processing must produce the same objects and an equivalent event.
// Return Permanent(err) for input that can never succeed; any other error
// is retried up to Runtime.MaxAttempts. ctx is cancelled when the attempt
// times out (Runtime.AttemptTimeout), when the record's partition is
// revoked, or when the shutdown grace runs out; a handler that does not
// return within Runtime.AbandonGrace after that is abandoned.
type Handler[In, Out contract.Event] func(ctx context.Context, in In) (Out, error)

// fetchErrorPause is the pause after a failed fetch or join (see member).
const fetchErrorPause = 100 * time.Millisecond

// now is the clock; tests may replace it.
var now = time.Now

// Run runs the stage until ctx is cancelled, then shuts down gracefully and
// returns nil. It returns an error only for invalid options or when the
// HTTP listener cannot start. Shutdown is bounded: after ctx is cancelled
// Run returns within about ShutdownGrace + AbandonGrace + 2×CloseTimeout,
// even when the broker no longer answers or a handler ignores its context.
func Run[In, Out contract.Event](ctx context.Context, opts Options, h Handler[In, Out]) error {
	if err := opts.setDefaults(); err != nil {
		return err
	}
	r := &runner[In, Out]{opts: opts, handler: h, log: opts.Logger.With("stage", string(opts.Stage))}
	return r.run(ctx)
}

type runner[In, Out contract.Event] struct {
	opts    Options
	handler Handler[In, Out]
	log     *slog.Logger
	client  *kafka.Client
	writer  *kafka.Writer
	dialer  *kafka.Dialer // consumer groups: TLS and SASL per kafka.*
	metrics *metrics
	health  *health
	stuck   stuckTracker
}

func (r *runner[In, Out]) run(ctx context.Context) error {
	o := &r.opts
	transport, err := kafkaconn.Transport(o.Kafka, &kafka.Transport{ClientID: o.Kafka.ClientID, DialTimeout: 5 * time.Second, MetadataTTL: 30 * time.Second})
	if err != nil {
		return err
	}
	if r.dialer, err = kafkaconn.Dialer(o.Kafka, &kafka.Dialer{ClientID: o.Kafka.ClientID, Timeout: 5 * time.Second, DualStack: true}); err != nil {
		return err
	}
	defer transport.CloseIdleConnections()
	r.client = &kafka.Client{Addr: kafka.TCP(o.Kafka.Brokers...), Timeout: 10 * time.Second, Transport: transport}
	lag := newLagCollector(r.client, string(o.Stage), o.Group, o.InputTopic, r.log)
	var reg prometheus.Registerer = o.Registry
	if o.Consumer != "" {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"consumer": o.Consumer}, reg)
	}
	r.metrics = newMetrics(reg, string(o.Stage), lag, r.stuck.seconds)
	r.writer = newWriter(o, transport)
	defer func() {
		if !closeWithin(o.Runtime.CloseTimeout, r.writer.Close) {
			r.log.Warn("closing the producer timed out", "timeout", o.Runtime.CloseTimeout)
		}
	}()

	checks := append([]Check{{Name: "kafka", Fn: r.kafkaCheck}}, o.Checks...)
	r.health = newHealth(checks, r.metrics.ready, r.log)
	r.health.live = func() error {
		if err := r.liveness(); err != nil {
			return err
		}
		for _, f := range o.Liveness {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	}
	if o.OnLiveness != nil {
		o.OnLiveness(r.liveness)
	}
	httpAddr := "(served by another consumer of this process)"
	if !o.NoHTTP {
		srv, err := serveHTTP(o.Runtime.HTTPAddr, r.health, o.Registry, r.log)
		if err != nil {
			return err
		}
		defer shutdownHTTP(srv)
		if o.Listening != nil {
			o.Listening(srv.Addr)
		}
		httpAddr = srv.Addr
	}

	// Startup: wait until Kafka and every dependency answer.
	for attempt := 1; !r.health.checkAll(ctx); attempt++ {
		d := backoff.Cap(attempt, 250*time.Millisecond, 2*time.Second)
		r.log.Info("waiting for dependencies", "retry_in", d, "failing", r.health.failing())
		if !backoff.Sleep(ctx, d) {
			return nil
		}
	}
	stopChecks := r.health.loop(ctx, 5*time.Second)
	defer stopChecks()
	for attempt := 1; ; attempt++ {
		err := o.StartupCheck(ctx, r.client)
		if err == nil {
			break
		}
		var refused *topics.DurabilityError
		if errors.As(err, &refused) {
			return fmt.Errorf("stage %s: %w", o.Stage, err)
		}
		d := backoff.Cap(attempt, 250*time.Millisecond, 2*time.Second)
		r.log.Warn("startup check failed; retrying", "err", err, "retry_in", d)
		if !backoff.Sleep(ctx, d) {
			return nil
		}
	}

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
		"dlq", o.DLQTopic, "concurrency", o.Runtime.Concurrency, "http", httpAddr)
	var wg sync.WaitGroup
	for i := 0; i < o.Runtime.Concurrency; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			newMember(r, id).run(ctx, work)
		}(i)
	}
	r.health.setStarted(true)
	<-ctx.Done()
	r.health.setStarted(false)
	r.log.Info("shutting down: stopped fetching", "grace", o.Runtime.ShutdownGrace)
	// Every step of a member's shutdown is bounded; this bound is the
	// backstop for anything that still hangs.
	bound := o.Runtime.ShutdownGrace + o.Runtime.AbandonGrace + 3*o.Runtime.CloseTimeout
	if !closeWithin(bound, func() error { wg.Wait(); return nil }) {
		r.log.Error("shutdown did not complete in time; leaving the remaining members behind", "bound", bound)
		return nil
	}
	r.log.Info("stage stopped")
	return nil
}

// newWriter is the stage's producer: acks=all, murmur2 on the key (the
// video id), linger Runtime.BatchTimeout (config's stage.batch_timeout),
// records up to MaxRecordBytes.
func newWriter(o *Options, transport *kafka.Transport) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(o.Kafka.Brokers...),
		Balancer:     newSpreadBalancer(o.Spread),
		RequiredAcks: kafka.RequireAll, // a zero Writer is acks=none
		BatchTimeout: o.Runtime.BatchTimeout,
		BatchBytes:   int64(o.MaxRecordBytes),
		MaxAttempts:  3,
		Transport:    transport,
	}
}

// liveness is /healthz: the process is alive unless a handler had to be
// abandoned (a goroutine ignores its context) or publishing/committing has
// been failing for longer than StuckTimeout. Either way only a restart
// helps, so the orchestrator should do it.
func (r *runner[In, Out]) liveness() error {
	if n := r.metrics.abandonedCount(); n > 0 {
		return fmt.Errorf("%d handler attempt(s) ignored cancellation and were abandoned; restart the worker", n)
	}
	if lim := r.opts.Runtime.StuckTimeout; lim > 0 {
		if d, why := r.stuck.since(); d > lim {
			return fmt.Errorf("no progress for %s: %s", d.Round(time.Second), why)
		}
	}
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

// ErrNoKey is the reason for dead-lettering a record without a key.
var ErrNoKey = errors.New("record has no key (the key must be the video id)")

func (r *runner[In, Out]) decode(m kafka.Message) (In, error) {
	var zero In
	if len(m.Key) == 0 {
		return zero, ErrNoKey
	}
	in, err := contract.Decode[In](m.Value)
	if err != nil {
		return zero, err
	}
	if in.Key() != string(m.Key) {
		return zero, fmt.Errorf("record key %q does not match video_id %q", m.Key, in.Key())
	}
	return in, nil
}

// inputID is the CloudEvents id of an input record: its ce_id, or for a
// record without one an id derived from where it is stored (stable across
// redeliveries).
func inputID(m kafka.Message) string {
	if id := contract.HeaderValue(FromKafkaHeaders(m.Headers), contract.HeaderID); id != "" {
		return id
	}
	return contract.DeriveID("record", m.Topic, fmt.Sprint(m.Partition), fmt.Sprint(m.Offset))
}

// closeWithin runs fn and waits for it at most d; it reports whether fn
// returned in time (if not, fn keeps running in the background).
func closeWithin(d time.Duration, fn func() error) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = fn()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
