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
	// Kafka is how to reach the brokers. Zero fields take the defaults
	// of the configuration (config.DefaultKafka: brokers 127.0.0.1:9092);
	// ClientID defaults to Service, as config.Load sets it.
	Kafka config.Kafka
	// Runtime tunes concurrency, retries, timeouts and the HTTP listener.
	// Zero fields take the defaults of the configuration
	// (config.DefaultStage: the same as a service started with no
	// configuration, e.g. commit_interval 1s, batch_timeout 5ms,
	// http_addr 127.0.0.1:8081); config.Off switches off shutdown_grace,
	// batch_timeout (1ms), commit_interval (synchronous commits) and
	// stuck_timeout, as 0 does in the configuration.
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
	// Consumer names this consumer when one process runs several Run over
	// the same Registry (transcode: plan, chunks, assemble): its metrics get
	// the label consumer=<Consumer>, so the series do not collide. Every Run
	// sharing a Registry must set it. Default: "" (no label).
	Consumer string
	// NoHTTP: this Run serves no /healthz, /readyz or /metrics; another Run
	// of the process does, on the same Registry. Default: false.
	NoHTTP bool
	// Liveness are extra conditions of /healthz, each returning an error
	// when the process should be restarted: the liveness of the process's
	// other Run, passed on by their OnLiveness. Default: none.
	Liveness []func() error
	// OnLiveness, if not nil, receives this Run's own liveness check
	// (abandoned handlers; publishing or committing stuck past
	// StuckTimeout) once Run has started, for the Liveness of the Run that
	// serves /healthz. Default: nil.
	OnLiveness func(live func() error)
	// Spread lists topics whose records the producer sends to the
	// partitions in turn instead of by key (work items published with
	// [Publish], e.g. contract.TopicTranscodeChunks). Default: none.
	Spread []string
	// SessionTimeout is the consumer-group session timeout: how long the
	// group waits for a member that stopped heartbeating (a crash) before
	// handing its partitions to others. Default: DefaultSessionTimeout (10s).
	SessionTimeout time.Duration
	// RebalanceTimeout bounds a rebalance. Default: DefaultRebalanceTimeout (10s).
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
	// larger dead letters go through DeadLetterStore. Default:
	// DefaultMaxRecordBytes (1 MiB, the broker's default message.max.bytes).
	MaxRecordBytes int
	// Fence, if not nil, drops the records of deleted videos and removes
	// what an attempt wrote for a video deleted while it ran (see [Fence];
	// [ObjectFence] for a stage that writes objects, declaring the prefixes
	// it owns). Every stage sets it; a consumer of video.deleted itself
	// must not. Default: nil (no fence).
	Fence Fence
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

// Defaults of the Options that are not configuration keys.
const (
	// DefaultSessionTimeout is Options.SessionTimeout's default.
	DefaultSessionTimeout = 10 * time.Second
	// DefaultRebalanceTimeout is Options.RebalanceTimeout's default.
	DefaultRebalanceTimeout = 10 * time.Second
	// DefaultMaxRecordBytes is Options.MaxRecordBytes's default: the
	// broker's default message.max.bytes.
	DefaultMaxRecordBytes = 1 << 20
	// minLinger is the producer linger of batch_timeout 0 (config.Off):
	// kafka-go reads a zero BatchTimeout as its 1s default.
	minLinger = time.Millisecond
)

// setDefaults fills the zero fields. Kafka and Runtime take the
// configuration defaults (config.Kafka.WithDefaults, config.Stage.WithDefaults;
// the client id is the service name, as config.Load sets it), so Run with
// zero options behaves like a service started with no configuration.
// Then the durations set to config.Off take their meaning: no shutdown
// grace, the smallest linger, synchronous commits, no stuck check (0 from
// here on, except the linger).
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
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.RebalanceTimeout == 0 {
		o.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	o.Kafka = o.Kafka.WithDefaults()
	if o.Kafka.ClientID == "" {
		o.Kafka.ClientID = o.Service
	}
	if o.StartupCheck == nil {
		k, log := o.Kafka, o.Logger
		o.StartupCheck = func(ctx context.Context, client *kafka.Client) error {
			return topics.StartupCheck(ctx, client, k, log)
		}
	}
	r := &o.Runtime
	*r = r.WithDefaults()
	for _, d := range []*time.Duration{&r.ShutdownGrace, &r.CommitInterval, &r.StuckTimeout} {
		if *d == config.Off {
			*d = 0
		}
	}
	if r.BatchTimeout == config.Off {
		r.BatchTimeout = minLinger
	}
	if len(o.Kafka.Brokers) == 0 {
		return errors.New("stage: no Kafka brokers configured")
	}
	if r.Concurrency < 1 || r.MaxAttempts < 1 || r.BackoffInitial > r.BackoffMax || r.BackoffInitial < 0 ||
		r.AttemptTimeout < 0 || r.ShutdownGrace < 0 || r.BatchTimeout < 0 || r.CommitInterval < 0 ||
		r.StuckTimeout < 0 || r.AbandonGrace < 0 || r.CloseTimeout < 0 {
		return fmt.Errorf("stage: invalid runtime settings %+v", *r)
	}
	return nil
}
