package config

import "time"

// The sections below are shared by every vidpipe service. A service's
// Config struct embeds the sections it uses as named fields with a
// `mapstructure` tag (the YAML key and the env/flag prefix), e.g.
//
//	type Config struct {
//		Kafka config.Kafka `mapstructure:"kafka"`
//		S3    config.S3    `mapstructure:"s3"`
//		Stage config.Stage `mapstructure:"stage"`
//		Log   config.Log   `mapstructure:"log"`
//	}
//
// Every leaf field has a `mapstructure` tag (the key), a `default` tag (the
// documented default, in the same syntax as the env var) and a `desc` tag
// (one line for the configuration reference). A key "stage.max_attempts"
// is set in YAML as stage: {max_attempts: 5}, in the environment as
// VIDPIPE_STAGE_MAX_ATTEMPTS=5 and on the command line as
// --stage.max_attempts=5. Lists are comma-separated in env and flags;
// maps are comma-separated key=value pairs.

// Kafka is how to reach the brokers.
type Kafka struct {
	// Brokers is the bootstrap list. Default: 127.0.0.1:9092.
	Brokers []string `mapstructure:"brokers" default:"127.0.0.1:9092" desc:"Kafka bootstrap brokers, comma-separated"`
	// ClientID names this process to the brokers. Default: the service name.
	ClientID string `mapstructure:"client_id" default:"" desc:"Kafka client id (default: the service name)"`
	// Partitions is the partition count used when vidpipe creates topics:
	// it caps the useful members of a group, and 12 splits evenly over 1, 2,
	// 3, 4 or 6 of them. Default: 12.
	Partitions int `mapstructure:"partitions" default:"12" desc:"partitions per topic when vidpipe creates topics"`
	// ReplicationFactor used when vidpipe creates topics. Default: 1.
	ReplicationFactor int `mapstructure:"replication_factor" default:"1" desc:"replication factor when vidpipe creates topics (2 or more: production settings, services refuse to start on topics below it)"`
	// MinInsyncReplicas is the topics' min.insync.replicas: how many
	// replicas must hold a record before an acks=all produce succeeds.
	// 0 means automatic: 2 when ReplicationFactor ≥ 3, else 1. At most
	// ReplicationFactor. With ReplicationFactor ≥ 2 (production settings)
	// services refuse to start when a topic has fewer replicas or a lower
	// min.insync.replicas than configured; with 1 (development) they warn.
	// Default: 0.
	MinInsyncReplicas int `mapstructure:"min_insync_replicas" default:"0" desc:"min.insync.replicas of the topics vidpipe creates and checks at start (0: 2 when replication_factor ≥ 3, else 1; at most replication_factor)"`
	// TLS encrypts the connections to the brokers (see KafkaTLS).
	TLS KafkaTLS `mapstructure:"tls"`
	// SASL authenticates to the brokers (see KafkaSASL).
	SASL KafkaSASL `mapstructure:"sasl"`
}

// KafkaTLS configures TLS to the brokers. Every Kafka client of a service
// (producer, consumer groups, admin) uses it; see package kafkaconn.
type KafkaTLS struct {
	// Enabled turns TLS on. Default: false.
	Enabled bool `mapstructure:"enabled" default:"false" desc:"connect to the brokers with TLS"`
	// CAFile is a PEM bundle of the CAs that sign the brokers'
	// certificates. Default: empty (the system roots).
	CAFile string `mapstructure:"ca_file" default:"" desc:"PEM file of the CAs trusted for the brokers' certificates (empty: system roots)"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// brokers that require mutual TLS. Default: empty (none).
	CertFile string `mapstructure:"cert_file" default:"" desc:"PEM client certificate for mutual TLS (with key_file)"`
	KeyFile  string `mapstructure:"key_file" default:"" desc:"PEM key of the client certificate"`
	// ServerName overrides the host name checked in the brokers'
	// certificates. Default: empty (the broker's host).
	ServerName string `mapstructure:"server_name" default:"" desc:"host name expected in the brokers' certificates (empty: the broker's host)"`
}

// KafkaSASL configures SASL authentication to the brokers.
type KafkaSASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty disables
	// SASL. PLAIN sends the password as is: use it with TLS only.
	// Default: empty.
	Mechanism string `mapstructure:"mechanism" default:"" desc:"SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)"`
	// Username and Password are the SASL credentials.
	Username string `mapstructure:"username" default:"" desc:"SASL user name"`
	Password string `mapstructure:"password" default:"" desc:"SASL password" secret:"true"`
}

// EffectiveMinInsyncReplicas is MinInsyncReplicas, or when it is 0, 2 for
// a replication factor of 3 or more and 1 below.
func (k Kafka) EffectiveMinInsyncReplicas() int {
	if k.MinInsyncReplicas > 0 {
		return k.MinInsyncReplicas
	}
	if k.ReplicationFactor >= 3 {
		return 2
	}
	return 1
}

// Production reports whether the Kafka settings are production settings:
// a replication factor of 2 or more (a replicated cluster). Then a topic
// below the configured durability stops a service at start; otherwise
// (development: one broker) it is a warning.
func (k Kafka) Production() bool { return k.ReplicationFactor >= 2 }

// S3 is the object store (AWS S3 or MinIO).
type S3 struct {
	// Endpoint is host:port of the S3 API. Default: 127.0.0.1:9000 (MinIO).
	// For AWS use s3.amazonaws.com (or a regional endpoint).
	Endpoint string `mapstructure:"endpoint" default:"127.0.0.1:9000" desc:"S3 API host:port (MinIO or s3.amazonaws.com)"`
	// Region of the bucket. Default: us-east-1.
	Region string `mapstructure:"region" default:"us-east-1" desc:"S3 region"`
	// Bucket holds sources and outputs. Default: vidpipe.
	Bucket string `mapstructure:"bucket" default:"vidpipe" desc:"bucket for sources and outputs"`
	// AccessKey and SecretKey are static credentials. Empty means the AWS
	// default chain (env, shared config, instance role).
	AccessKey string `mapstructure:"access_key" default:"" desc:"S3 access key (empty: AWS default credential chain)"`
	SecretKey string `mapstructure:"secret_key" default:"" desc:"S3 secret key" secret:"true"`
	// UseSSL selects https. Default: false.
	UseSSL bool `mapstructure:"use_ssl" default:"false" desc:"use https to reach the S3 endpoint"`
	// PathStyle forces path-style addressing (MinIO). Default: true.
	PathStyle bool `mapstructure:"path_style" default:"true" desc:"path-style bucket addressing (needed by MinIO)"`
	// PartSize is the multipart part size in bytes for uploads of unknown
	// size; it bounds the memory one upload holds. Default: 16 MiB; min 5 MiB.
	PartSize int64 `mapstructure:"part_size" default:"16777216" desc:"multipart part size in bytes (bounds memory per upload; min 5 MiB)"`
	// PresignExpiry is how long presigned GET URLs stay valid. Default: 1h.
	PresignExpiry time.Duration `mapstructure:"presign_expiry" default:"1h" desc:"validity of presigned GET URLs"`
	// PublicEndpoint, when set, replaces the endpoint in presigned URLs
	// (e.g. the address clients use): host:port (scheme per UseSSL) or
	// http(s)://host[:port]. URLs are signed for this host and Region.
	// Default: empty (same as endpoint).
	PublicEndpoint string `mapstructure:"public_endpoint" default:"" desc:"host:port or http(s)://host:port clients use for presigned URLs (default: endpoint)"`
}

// Postgres is the catalog / projection database.
type Postgres struct {
	// URL is a libpq connection URL. Default: postgres://vidpipe@127.0.0.1:5432/vidpipe?sslmode=disable.
	URL string `mapstructure:"url" default:"postgres://vidpipe@127.0.0.1:5432/vidpipe?sslmode=disable" desc:"PostgreSQL connection URL" secret:"true"`
	// MaxConns bounds the pool. Default: 8.
	MaxConns int `mapstructure:"max_conns" default:"8" desc:"maximum pooled connections"`
}

// Stage tunes the stage runtime of a worker (stage.Options.Runtime).
//
// The `default` tags are the one statement of the defaults: Load starts
// from them, DefaultStage returns them, and the stage runtime fills the
// zero fields of a Stage built in code from them (WithDefaults), so a
// worker started with stage.Run and a zero Stage behaves like a service
// started with no configuration. The four durations whose key gives 0 a
// meaning of its own (shutdown_grace, batch_timeout, commit_interval,
// stuck_timeout) are switched off in code with Off; Load stores Off for
// them when they are set to 0.
type Stage struct {
	// Concurrency is the number of consumer-group members in this process;
	// each processes one record at a time. Default: 1.
	Concurrency int `mapstructure:"concurrency" default:"1" desc:"consumer-group members in this process"`
	// MaxAttempts bounds handler attempts per record (1 = no retry). Default: 5.
	MaxAttempts int `mapstructure:"max_attempts" default:"5" desc:"handler attempts per record before dead-lettering"`
	// BackoffInitial is the first retry delay cap; it doubles per attempt
	// (full jitter: the delay is uniform in [0, cap)). Default: 500ms.
	BackoffInitial time.Duration `mapstructure:"backoff_initial" default:"500ms" desc:"first retry backoff cap (doubles per attempt, full jitter)"`
	// BackoffMax caps the backoff. Default: 30s.
	BackoffMax time.Duration `mapstructure:"backoff_max" default:"30s" desc:"maximum retry backoff"`
	// AttemptTimeout bounds one handler attempt. Default: 10m.
	AttemptTimeout time.Duration `mapstructure:"attempt_timeout" default:"10m" desc:"timeout of one handler attempt"`
	// ShutdownGrace is how long an in-flight attempt may run after
	// SIGTERM before it is cancelled; 0 (Off in code) cancels it at once.
	// Default: 30s.
	ShutdownGrace time.Duration `mapstructure:"shutdown_grace" default:"30s" zero:"off" desc:"time an in-flight attempt may finish after SIGTERM (0: cancel it at once)"`
	// BatchTimeout is the producer's linger before sending a batch; 0
	// (Off in code) is the smallest linger, 1ms (kafka-go would read 0 as
	// 1s). Default: 5ms.
	BatchTimeout time.Duration `mapstructure:"batch_timeout" default:"5ms" zero:"off" desc:"producer batch linger (0: the smallest, 1ms)"`
	// CommitInterval batches offset commits: finished records are committed
	// at most this long after they finish, or sooner with the start of the
	// next record (each attempt is recorded by a commit before it starts);
	// 0 (Off in code) commits synchronously after every record. Offsets are only ever
	// committed after the output is acknowledged, and only for partitions
	// the member owns. Default: 1s.
	CommitInterval time.Duration `mapstructure:"commit_interval" default:"1s" zero:"off" desc:"offset commit batching interval (0: commit each record synchronously)"`
	// StuckTimeout is how long publishing or committing may keep failing
	// before /healthz answers 503, so that an orchestrator restarts the
	// worker (vidpipe_stage_stuck_seconds shows the current figure). 0
	// (Off in code) disables the check. Default: 5m.
	StuckTimeout time.Duration `mapstructure:"stuck_timeout" default:"5m" zero:"off" desc:"time publishes/commits may keep failing before /healthz fails (0: never)"`
	// AbandonGrace is how long a handler may run on after its context was
	// cancelled (attempt timeout, revoked partition, end of the shutdown
	// grace) before the runtime gives up on it: the attempt counts as
	// failed and /healthz fails (a goroutine is leaked). Default: 30s.
	AbandonGrace time.Duration `mapstructure:"abandon_grace" default:"30s" desc:"time a handler may ignore its cancelled context before it is abandoned and /healthz fails"`
	// CloseTimeout bounds each step of leaving the group at shutdown (the
	// last commit, leaving the group). Default: 10s.
	CloseTimeout time.Duration `mapstructure:"close_timeout" default:"10s" desc:"bound on the final commit and on leaving the consumer group at shutdown"`
	// HTTPAddr is where /healthz, /readyz and /metrics listen. Default: 127.0.0.1:8081.
	HTTPAddr string `mapstructure:"http_addr" default:"127.0.0.1:8081" desc:"listen address of /healthz, /readyz and /metrics"`
}

// Log configures structured logging.
type Log struct {
	// Level is debug, info, warn or error. Default: info.
	Level string `mapstructure:"level" default:"info" desc:"log level: debug, info, warn, error"`
	// Format is text or json. Default: text.
	Format string `mapstructure:"format" default:"text" desc:"log format: text or json"`
}
