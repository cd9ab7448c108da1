package stage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// Check is a readiness check of a dependency (object storage, database).
// Fn returns nil when the dependency is reachable.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Options configure [Run].
type Options struct {
	// Stage is the stage this worker runs. Required.
	Stage contract.Stage
	// Service is the CloudEvents source name ("/vidpipe/<Service>").
	// Default: the stage name.
	Service string
	// Kafka is how to reach the brokers.
	Kafka config.Kafka
	// Runtime tunes concurrency, retries, timeouts and the HTTP listener.
	Runtime config.Stage
	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
	// Checks are extra readiness checks; consumption starts only once all
	// of them (and Kafka) pass, and /readyz reports them.
	Checks []Check
	// Registry receives the runtime's metrics and is served on /metrics;
	// pass one in to add a worker's own metrics. Default: a new registry.
	Registry *prometheus.Registry
	// InputTopic, OutputTopic, DLQTopic and Group override the stage's
	// defaults (used by tests and benchmarks). Default: from Stage.
	InputTopic, OutputTopic, DLQTopic, Group string
	// SessionTimeout is the consumer-group session timeout: how long the
	// group waits for a member that stopped heartbeating (a crash) before
	// handing its partitions to others. Default: 10s.
	SessionTimeout time.Duration
	// RebalanceTimeout bounds a rebalance. Default: 10s.
	RebalanceTimeout time.Duration
	// Listening, if not nil, is called with the HTTP listener's address
	// (useful with port 0) as soon as it listens.
	Listening func(addr string)
	// DeadLetterStore keeps the original value of a record whose dead
	// letter would be too large for Kafka (see MaxRecordBytes): the dead
	// letter then has an empty value and a dlq.value_ref header naming the
	// stored object. Nil: the reference points at the input record itself
	// ("kafka://topic/partition/offset"), readable until retention deletes it.
	DeadLetterStore DeadLetterStore
	// MaxRecordBytes is the largest record the producer sends (kafka-go's
	// Writer.BatchBytes). Larger outputs are dead-lettered as permanent;
	// larger dead letters go through DeadLetterStore. Default: 1 MiB, the
	// broker's default message.max.bytes.
	MaxRecordBytes int
	// StartupCheck runs once Kafka answers and before the members join;
	// an error stops Run. Default: topics.StartupCheck with Kafka (topic
	// durability: min.insync.replicas and replication are warned about in
	// development settings and refused in production settings, see
	// config.Kafka).
	StartupCheck func(ctx context.Context, client *kafka.Client) error
}

// DeadLetterStore stores dead-lettered values too large for Kafka.
type DeadLetterStore interface {
	// PutDeadLetterValue stores value under key and returns a reference to
	// it, e.g. "s3://bucket/key".
	PutDeadLetterValue(ctx context.Context, key string, value []byte) (ref string, err error)
}

func (o *Options) setDefaults() error {
	if !o.Stage.Valid() && (o.InputTopic == "" || o.OutputTopic == "" || o.DLQTopic == "" || o.Group == "") {
		return fmt.Errorf("stage: unknown stage %q", o.Stage)
	}
	if o.Service == "" {
		o.Service = string(o.Stage)
	}
	if o.InputTopic == "" {
		o.InputTopic = o.Stage.InputTopic()
	}
	if o.OutputTopic == "" {
		o.OutputTopic = o.Stage.OutputTopic()
	}
	if o.DLQTopic == "" {
		o.DLQTopic = o.Stage.DLQTopic()
	}
	if o.Group == "" {
		o.Group = o.Stage.Group()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = 10 * time.Second
	}
	if o.RebalanceTimeout == 0 {
		o.RebalanceTimeout = 10 * time.Second
	}
	if o.Kafka.ClientID == "" {
		o.Kafka.ClientID = "vidpipe-" + o.Service
	}
	r := &o.Runtime
	if r.Concurrency == 0 {
		r.Concurrency = 1
	}
	if r.MaxAttempts == 0 {
		r.MaxAttempts = 5
	}
	if r.BackoffInitial == 0 {
		r.BackoffInitial = 500 * time.Millisecond
	}
	if r.BackoffMax == 0 {
		r.BackoffMax = 30 * time.Second
	}
	if r.AttemptTimeout == 0 {
		r.AttemptTimeout = 10 * time.Minute
	}
	if r.AbandonGrace <= 0 {
		r.AbandonGrace = 30 * time.Second
	}
	if r.CloseTimeout <= 0 {
		r.CloseTimeout = 10 * time.Second
	}
	if o.StartupCheck == nil {
		k, log := o.Kafka, o.Logger
		o.StartupCheck = func(ctx context.Context, client *kafka.Client) error {
			return topics.StartupCheck(ctx, client, k, log)
		}
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = 1 << 20
	}
	if r.BatchTimeout <= 0 {
		// kafka-go treats 0 as its 1 s default; keep the linger tiny instead.
		r.BatchTimeout = time.Millisecond
	}
	if len(o.Kafka.Brokers) == 0 {
		return errors.New("stage: no Kafka brokers configured")
	}
	if r.Concurrency < 1 || r.MaxAttempts < 1 || r.BackoffInitial > r.BackoffMax || r.ShutdownGrace < 0 {
		return fmt.Errorf("stage: invalid runtime settings %+v", *r)
	}
	return nil
}
