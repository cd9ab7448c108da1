package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/platform/config"
)

// defaults returns the sections as loaded with no file, env or flags.
func defaults(t *testing.T) testConfig {
	t.Helper()
	c, err := load(t, nil, nil, "")
	if err != nil {
		t.Fatalf("Load defaults: %v", err)
	}
	return c
}

// validationCase mutates valid defaults; want is the exact error text
// ("" = valid).
type validationCase struct {
	mutate func(c *testConfig)
	want   string
}

func runValidation(t *testing.T, validate func(c testConfig) error, tests map[string]validationCase) {
	t.Helper()
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := defaults(t)
			tt.mutate(&c)
			err := validate(c)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate = nil, want %q", tt.want)
			case tt.want != "" && err.Error() != tt.want:
				t.Fatalf("Validate =\n%q\nwant\n%q", err, tt.want)
			}
			var fe *config.FieldError
			if err != nil && !errors.As(err, &fe) {
				t.Errorf("Validate error %v is not a *FieldError", err)
			}
		})
	}
}

func TestKafkaValidate(t *testing.T) {
	t.Parallel()
	runValidation(t, func(c testConfig) error { return c.Kafka.Validate() }, map[string]validationCase{
		"defaults":            {mutate: func(*testConfig) {}},
		"several brokers":     {mutate: func(c *testConfig) { c.Kafka.Brokers = []string{"k1:9092", "[::1]:9093"} }},
		"no broker":           {mutate: func(c *testConfig) { c.Kafka.Brokers = nil }, want: "brokers: must list at least one broker host:port"},
		"broker without port": {mutate: func(c *testConfig) { c.Kafka.Brokers = []string{"kafka"} }, want: `brokers: must be host:port (got "kafka")`},
		"broker without host": {mutate: func(c *testConfig) { c.Kafka.Brokers = []string{":9092"} }, want: `brokers: must be host:port with a host (got ":9092")`},
		"broker bad port":     {mutate: func(c *testConfig) { c.Kafka.Brokers = []string{"k:99999"} }, want: `brokers: port must be a number in 1..65535 (got "k:99999")`},
		"zero partitions":     {mutate: func(c *testConfig) { c.Kafka.Partitions = 0 }, want: "partitions: must be at least 1 (got 0)"},
		"zero replication":    {mutate: func(c *testConfig) { c.Kafka.ReplicationFactor = 0 }, want: "replication_factor: must be at least 1 (got 0)"},
		"min insync auto":     {mutate: func(c *testConfig) { c.Kafka.ReplicationFactor, c.Kafka.MinInsyncReplicas = 3, 0 }},
		"min insync = rf":     {mutate: func(c *testConfig) { c.Kafka.ReplicationFactor, c.Kafka.MinInsyncReplicas = 3, 3 }},
		"min insync > rf":     {mutate: func(c *testConfig) { c.Kafka.ReplicationFactor, c.Kafka.MinInsyncReplicas = 1, 2 }, want: "min_insync_replicas: 2 must be between 0 (automatic) and kafka.replication_factor (1)"},
		"min insync negative": {mutate: func(c *testConfig) { c.Kafka.MinInsyncReplicas = -1 }, want: "min_insync_replicas: -1 must be between 0 (automatic) and kafka.replication_factor (1)"},
	})
}

func TestS3Validate(t *testing.T) {
	t.Parallel()
	runValidation(t, func(c testConfig) error { return c.S3.Validate() }, map[string]validationCase{
		"defaults":                {mutate: func(*testConfig) {}},
		"aws endpoint":            {mutate: func(c *testConfig) { c.S3.Endpoint = "s3.eu-west-1.amazonaws.com" }},
		"static credentials":      {mutate: func(c *testConfig) { c.S3.AccessKey, c.S3.SecretKey = "a", "s" }},
		"empty endpoint":          {mutate: func(c *testConfig) { c.S3.Endpoint = "" }, want: "endpoint: must not be empty"},
		"endpoint with scheme":    {mutate: func(c *testConfig) { c.S3.Endpoint = "http://minio:9000" }, want: `endpoint: must be host or host:port without scheme or path (got "http://minio:9000")`},
		"endpoint bad port":       {mutate: func(c *testConfig) { c.S3.Endpoint = "minio:x" }, want: `endpoint: port must be a number in 1..65535 (got "minio:x")`},
		"bucket too short":        {mutate: func(c *testConfig) { c.S3.Bucket = "ab" }, want: `bucket: must be 3 to 63 characters (got "ab")`},
		"bucket too long":         {mutate: func(c *testConfig) { c.S3.Bucket = strings.Repeat("a", 64) }, want: `bucket: must be 3 to 63 characters (got "` + strings.Repeat("a", 64) + `")`},
		"bucket uppercase":        {mutate: func(c *testConfig) { c.S3.Bucket = "Videos" }, want: `bucket: must be lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit (got "Videos")`},
		"bucket underscore":       {mutate: func(c *testConfig) { c.S3.Bucket = "my_videos" }, want: `bucket: must be lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit (got "my_videos")`},
		"bucket ends with hyphen": {mutate: func(c *testConfig) { c.S3.Bucket = "videos-" }, want: `bucket: must be lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit (got "videos-")`},
		"bucket double dot":       {mutate: func(c *testConfig) { c.S3.Bucket = "my..videos" }, want: `bucket: must not contain ".." (got "my..videos")`},
		"bucket ip address":       {mutate: func(c *testConfig) { c.S3.Bucket = "192.168.1.1" }, want: `bucket: must not be an IP address (got "192.168.1.1")`},
		"bucket reserved prefix":  {mutate: func(c *testConfig) { c.S3.Bucket = "xn--videos" }, want: `bucket: must not start with "xn--" (got "xn--videos")`},
		"bucket reserved suffix":  {mutate: func(c *testConfig) { c.S3.Bucket = "videos-s3alias" }, want: `bucket: must not end with "-s3alias" (got "videos-s3alias")`},
		"bucket with dots":        {mutate: func(c *testConfig) { c.S3.Bucket = "media.example.com" }},
		"part size 5 MiB":         {mutate: func(c *testConfig) { c.S3.PartSize = 5 << 20 }},
		"part size too small":     {mutate: func(c *testConfig) { c.S3.PartSize = 5<<20 - 1 }, want: "part_size: must be between 5242880 (5 MiB) and 5368709120 (5 GiB) bytes (got 5242879)"},
		"part size too large":     {mutate: func(c *testConfig) { c.S3.PartSize = 5<<30 + 1 }, want: "part_size: must be between 5242880 (5 MiB) and 5368709120 (5 GiB) bytes (got 5368709121)"},
		"presign 7 days":          {mutate: func(c *testConfig) { c.S3.PresignExpiry = 7 * 24 * time.Hour }},
		"presign too short":       {mutate: func(c *testConfig) { c.S3.PresignExpiry = 500 * time.Millisecond }, want: "presign_expiry: must be between 1s and 168h (7 days) (got 500ms)"},
		"presign too long":        {mutate: func(c *testConfig) { c.S3.PresignExpiry = 8 * 24 * time.Hour }, want: "presign_expiry: must be between 1s and 168h (7 days) (got 192h0m0s)"},
		"access key only":         {mutate: func(c *testConfig) { c.S3.AccessKey = "a" }, want: "access_key: access_key and secret_key must both be set or both be empty"},
		"secret key only":         {mutate: func(c *testConfig) { c.S3.SecretKey = "s" }, want: "access_key: access_key and secret_key must both be set or both be empty"},
		"public host:port":        {mutate: func(c *testConfig) { c.S3.PublicEndpoint = "media.example.com:443" }},
		"public https url":        {mutate: func(c *testConfig) { c.S3.PublicEndpoint = "https://media.example.com" }},
		"public with path":        {mutate: func(c *testConfig) { c.S3.PublicEndpoint = "https://media.example.com/s3" }, want: `public_endpoint: must be host or host:port without scheme or path (got "media.example.com/s3")`},
		"several errors": {
			mutate: func(c *testConfig) { c.S3.Bucket = "ab"; c.S3.PartSize = 0 },
			want:   "bucket: must be 3 to 63 characters (got \"ab\")\npart_size: must be between 5242880 (5 MiB) and 5368709120 (5 GiB) bytes (got 0)",
		},
	})
}

func TestPostgresValidate(t *testing.T) {
	t.Parallel()
	runValidation(t, func(c testConfig) error { return c.Postgres.Validate() }, map[string]validationCase{
		"defaults":         {mutate: func(*testConfig) {}},
		"postgresql":       {mutate: func(c *testConfig) { c.Postgres.URL = "postgresql://u:p@db:5432/vidpipe" }},
		"empty url":        {mutate: func(c *testConfig) { c.Postgres.URL = "" }, want: "url: must not be empty"},
		"wrong scheme":     {mutate: func(c *testConfig) { c.Postgres.URL = "mysql://db/x" }, want: `url: scheme must be postgres or postgresql (got "mysql")`},
		"not a url":        {mutate: func(c *testConfig) { c.Postgres.URL = "host=db user=u" }, want: `url: scheme must be postgres or postgresql (got "")`},
		"unparsable url":   {mutate: func(c *testConfig) { c.Postgres.URL = "postgres://u:p@db:port/x" }, want: `url: does not parse: invalid port ":port" after host`},
		"zero connections": {mutate: func(c *testConfig) { c.Postgres.MaxConns = 0 }, want: "max_conns: must be at least 1 (got 0)"},
	})
}

func TestStageValidate(t *testing.T) {
	t.Parallel()
	runValidation(t, func(c testConfig) error { return c.Stage.Validate() }, map[string]validationCase{
		"defaults":                {mutate: func(*testConfig) {}},
		"64 members":              {mutate: func(c *testConfig) { c.Stage.Concurrency = 64 }},
		"zero grace and batching": {mutate: func(c *testConfig) { c.Stage.ShutdownGrace, c.Stage.BatchTimeout, c.Stage.CommitInterval = 0, 0, 0 }},
		"listen on all":           {mutate: func(c *testConfig) { c.Stage.HTTPAddr = ":8081" }},
		"random port":             {mutate: func(c *testConfig) { c.Stage.HTTPAddr = "127.0.0.1:0" }},
		"zero concurrency":        {mutate: func(c *testConfig) { c.Stage.Concurrency = 0 }, want: "concurrency: must be between 1 and 64 (got 0)"},
		"too many members":        {mutate: func(c *testConfig) { c.Stage.Concurrency = 65 }, want: "concurrency: must be between 1 and 64 (got 65)"},
		"zero attempts":           {mutate: func(c *testConfig) { c.Stage.MaxAttempts = 0 }, want: "max_attempts: must be at least 1 (got 0)"},
		"zero initial backoff":    {mutate: func(c *testConfig) { c.Stage.BackoffInitial = 0 }, want: "backoff_initial: must be greater than 0 (got 0s)"},
		"negative max backoff":    {mutate: func(c *testConfig) { c.Stage.BackoffMax = -time.Second }, want: "backoff_max: must be greater than 0 (got -1s)"},
		"initial above max":       {mutate: func(c *testConfig) { c.Stage.BackoffInitial = time.Minute }, want: "backoff_initial: must not exceed backoff_max 30s (got 1m0s)"},
		"zero attempt timeout":    {mutate: func(c *testConfig) { c.Stage.AttemptTimeout = 0 }, want: "attempt_timeout: must be greater than 0 (got 0s)"},
		"negative grace":          {mutate: func(c *testConfig) { c.Stage.ShutdownGrace = -1 }, want: "shutdown_grace: must not be negative (got -1ns)"},
		"negative batch timeout":  {mutate: func(c *testConfig) { c.Stage.BatchTimeout = -time.Millisecond }, want: "batch_timeout: must not be negative (got -1ms)"},
		"negative commit":         {mutate: func(c *testConfig) { c.Stage.CommitInterval = -time.Second }, want: "commit_interval: must not be negative (got -1s)"},
		"addr without port":       {mutate: func(c *testConfig) { c.Stage.HTTPAddr = "localhost" }, want: `http_addr: must be host:port (got "localhost")`},
	})
}

func TestLogValidate(t *testing.T) {
	t.Parallel()
	runValidation(t, func(c testConfig) error { return c.Log.Validate() }, map[string]validationCase{
		"defaults":       {mutate: func(*testConfig) {}},
		"upper case":     {mutate: func(c *testConfig) { c.Log.Level, c.Log.Format = "DEBUG", "JSON" }},
		"warning":        {mutate: func(c *testConfig) { c.Log.Level = "warning" }},
		"unknown level":  {mutate: func(c *testConfig) { c.Log.Level = "trace" }, want: `level: must be debug, info, warn or error (got "trace")`},
		"unknown format": {mutate: func(c *testConfig) { c.Log.Format = "logfmt" }, want: `format: must be text or json (got "logfmt")`},
	})
}

func TestKafkaDurabilitySettings(t *testing.T) {
	for _, c := range []struct {
		rf, min, want int
		prod          bool
	}{{1, 0, 1, false}, {2, 0, 1, true}, {3, 0, 2, true}, {5, 0, 2, true}, {3, 3, 3, true}, {1, 1, 1, false}} {
		k := config.Kafka{ReplicationFactor: c.rf, MinInsyncReplicas: c.min}
		if got := k.EffectiveMinInsyncReplicas(); got != c.want {
			t.Errorf("rf %d, min %d: EffectiveMinInsyncReplicas = %d, want %d", c.rf, c.min, got, c.want)
		}
		if k.Production() != c.prod {
			t.Errorf("rf %d: Production = %v, want %v", c.rf, k.Production(), c.prod)
		}
	}
}
