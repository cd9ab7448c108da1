package config_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/platform/config"
)

// testConfig is a service Config: the shared sections plus a section of
// its own with a map, a list of ints, a float, a secret and a nested
// section, and a cross-section Validate.
type testConfig struct {
	Kafka    config.Kafka    `mapstructure:"kafka"`
	S3       config.S3       `mapstructure:"s3"`
	Postgres config.Postgres `mapstructure:"postgres"`
	Stage    config.Stage    `mapstructure:"stage"`
	Log      config.Log      `mapstructure:"log"`
	Extra    extra           `mapstructure:"extra"`
}

type extra struct {
	Labels map[string]string `mapstructure:"labels" default:"" desc:"labels added to every output"`
	Ports  []int             `mapstructure:"ports" default:"80,443" desc:"ports"`
	Ratio  float64           `mapstructure:"ratio" default:"0.5" desc:"a ratio"`
	Token  string            `mapstructure:"token" default:"" desc:"API token" secret:"true"`
	Nested nested            `mapstructure:"nested"`
}

type nested struct {
	Depth int `mapstructure:"depth" default:"2" desc:"nesting depth, at most 10"`
}

func (n nested) Validate() error {
	if n.Depth > 10 {
		return &config.FieldError{Key: "depth", Msg: fmt.Sprintf("must be at most 10 (got %d)", n.Depth)}
	}
	return nil
}

func (c *testConfig) Validate() error {
	if c.Stage.Concurrency > c.Postgres.MaxConns {
		return &config.FieldError{Key: "stage.concurrency", Msg: fmt.Sprintf("must not exceed postgres.max_conns %d (got %d)", c.Postgres.MaxConns, c.Stage.Concurrency)}
	}
	return nil
}

// load runs config.Load for service "svc" with args, the env map and, when
// file is not empty, a YAML file with that content passed as --config.
func load(t *testing.T, args []string, env map[string]string, file string) (testConfig, error) {
	t.Helper()
	if file != "" {
		path := filepath.Join(t.TempDir(), "vidpipe.yaml")
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	var c testConfig
	err := config.Load("svc", args, func(k string) string { return env[k] }, &c)
	return c, err
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args  []string
		env   map[string]string
		file  string
		check func(t *testing.T, c testConfig)
	}{
		"defaults": {
			check: func(t *testing.T, c testConfig) {
				want := testConfig{
					Kafka: config.Kafka{Brokers: []string{"127.0.0.1:9092"}, ClientID: "svc", Partitions: 12, ReplicationFactor: 1},
					S3: config.S3{Endpoint: "127.0.0.1:9000", Region: "us-east-1", Bucket: "vidpipe", PathStyle: true,
						PartSize: 16 << 20, PresignExpiry: time.Hour},
					Postgres: config.Postgres{URL: "postgres://vidpipe@127.0.0.1:5432/vidpipe?sslmode=disable", MaxConns: 8},
					Stage: config.Stage{Concurrency: 1, MaxAttempts: 5, BackoffInitial: 500 * time.Millisecond, BackoffMax: 30 * time.Second,
						AttemptTimeout: 10 * time.Minute, ShutdownGrace: 30 * time.Second, BatchTimeout: 5 * time.Millisecond,
						CommitInterval: time.Second, StuckTimeout: 5 * time.Minute, AbandonGrace: 30 * time.Second, CloseTimeout: 10 * time.Second, HTTPAddr: "127.0.0.1:8081"},
					Log:   config.Log{Level: "info", Format: "text"},
					Extra: extra{Labels: map[string]string{}, Ports: []int{80, 443}, Ratio: 0.5, Nested: nested{Depth: 2}},
				}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("defaults:\n got %#v\nwant %#v", c, want)
				}
				if c.Stage != config.DefaultStage() {
					t.Errorf("DefaultStage() = %+v, Load's defaults %+v", config.DefaultStage(), c.Stage)
				}
				if k := config.DefaultKafka(); k.ClientID != "" || !reflect.DeepEqual(k.Brokers, c.Kafka.Brokers) ||
					k.Partitions != c.Kafka.Partitions || k.ReplicationFactor != c.Kafka.ReplicationFactor {
					t.Errorf("DefaultKafka() = %+v, Load's defaults %+v", k, c.Kafka)
				}
			},
		},
		"yaml file": {
			file: `
kafka:
  brokers: [k1:9092, k2:9093]
  client_id: transcode-1
stage:
  max_attempts: 3
  backoff_max: 2m
s3:
  use_ssl: true
extra:
  labels: {team: media, tier: gold}
  ports: [8080]
  ratio: 2
  nested: {depth: 7}
`,
			check: func(t *testing.T, c testConfig) {
				check(t, "kafka.brokers", c.Kafka.Brokers, []string{"k1:9092", "k2:9093"})
				check(t, "kafka.client_id", c.Kafka.ClientID, "transcode-1")
				check(t, "stage.max_attempts", c.Stage.MaxAttempts, 3)
				check(t, "stage.backoff_max", c.Stage.BackoffMax, 2*time.Minute)
				check(t, "s3.use_ssl", c.S3.UseSSL, true)
				check(t, "extra.labels", c.Extra.Labels, map[string]string{"team": "media", "tier": "gold"})
				check(t, "extra.ports", c.Extra.Ports, []int{8080})
				check(t, "extra.ratio", c.Extra.Ratio, 2.0)
				check(t, "extra.nested.depth", c.Extra.Nested.Depth, 7)
				check(t, "stage.concurrency (default)", c.Stage.Concurrency, 1)
			},
		},
		"env overrides the file": {
			file: "stage: {max_attempts: 3, concurrency: 2}\n",
			env:  map[string]string{"VIDPIPE_STAGE_MAX_ATTEMPTS": "9"},
			check: func(t *testing.T, c testConfig) {
				check(t, "stage.max_attempts", c.Stage.MaxAttempts, 9)
				check(t, "stage.concurrency", c.Stage.Concurrency, 2)
			},
		},
		"flag overrides env": {
			args: []string{"--stage.max_attempts=4", "--log.level", "debug"},
			env:  map[string]string{"VIDPIPE_STAGE_MAX_ATTEMPTS": "9", "VIDPIPE_LOG_FORMAT": "json"},
			check: func(t *testing.T, c testConfig) {
				check(t, "stage.max_attempts", c.Stage.MaxAttempts, 4)
				check(t, "log.level", c.Log.Level, "debug")
				check(t, "log.format", c.Log.Format, "json")
			},
		},
		"precedence flag > env > file > default": {
			file: "stage: {max_attempts: 2, concurrency: 2, backoff_max: 10s}\nlog: {level: warn}\n",
			env:  map[string]string{"VIDPIPE_STAGE_MAX_ATTEMPTS": "3", "VIDPIPE_STAGE_CONCURRENCY": "3"},
			args: []string{"--stage.max_attempts=4"},
			check: func(t *testing.T, c testConfig) {
				check(t, "flag > env > file", c.Stage.MaxAttempts, 4)
				check(t, "env > file", c.Stage.Concurrency, 3)
				check(t, "file > default", c.Stage.BackoffMax, 10*time.Second)
				check(t, "file > default", c.Log.Level, "warn")
				check(t, "default", c.Stage.AttemptTimeout, 10*time.Minute)
			},
		},
		"env list map and duration": {
			env: map[string]string{
				"VIDPIPE_KAFKA_BROKERS":            " k1:9092, k2:9092 ,",
				"VIDPIPE_EXTRA_LABELS":             "team=media, tier = gold",
				"VIDPIPE_EXTRA_PORTS":              "1,2,3",
				"VIDPIPE_STAGE_BACKOFF_INITIAL":    "250ms",
				"VIDPIPE_STAGE_COMMIT_INTERVAL":    "0",
				"VIDPIPE_S3_PRESIGN_EXPIRY":        "1h30m",
				"VIDPIPE_S3_PATH_STYLE":            "false",
				"VIDPIPE_EXTRA_RATIO":              "0.25",
				"VIDPIPE_EXTRA_NESTED_DEPTH":       "9",
				"VIDPIPE_POSTGRES_MAX_CONNS":       "16",
				"VIDPIPE_KAFKA_REPLICATION_FACTOR": "3",
			},
			check: func(t *testing.T, c testConfig) {
				check(t, "kafka.brokers", c.Kafka.Brokers, []string{"k1:9092", "k2:9092"})
				check(t, "extra.labels", c.Extra.Labels, map[string]string{"team": "media", "tier": "gold"})
				check(t, "extra.ports", c.Extra.Ports, []int{1, 2, 3})
				check(t, "stage.backoff_initial", c.Stage.BackoffInitial, 250*time.Millisecond)
				check(t, "stage.commit_interval (0 loads as Off)", c.Stage.CommitInterval, config.Off)
				check(t, "s3.presign_expiry", c.S3.PresignExpiry, 90*time.Minute)
				check(t, "s3.path_style", c.S3.PathStyle, false)
				check(t, "extra.ratio", c.Extra.Ratio, 0.25)
				check(t, "extra.nested.depth", c.Extra.Nested.Depth, 9)
				check(t, "postgres.max_conns", c.Postgres.MaxConns, 16)
				check(t, "kafka.replication_factor", c.Kafka.ReplicationFactor, 3)
			},
		},
		"env replaces a yaml list and map": {
			file: "kafka: {brokers: [a:1, b:2]}\nextra: {labels: {x: y}}\n",
			env:  map[string]string{"VIDPIPE_KAFKA_BROKERS": "c:3", "VIDPIPE_EXTRA_LABELS": "k=v"},
			check: func(t *testing.T, c testConfig) {
				check(t, "kafka.brokers", c.Kafka.Brokers, []string{"c:3"})
				check(t, "extra.labels", c.Extra.Labels, map[string]string{"k": "v"})
			},
		},
		"flag list map and bare bool": {
			args: []string{"--kafka.brokers=x:1,y:2", "--extra.labels", "a=1", "--s3.use_ssl", "--s3.path_style=false"},
			check: func(t *testing.T, c testConfig) {
				check(t, "kafka.brokers", c.Kafka.Brokers, []string{"x:1", "y:2"})
				check(t, "extra.labels", c.Extra.Labels, map[string]string{"a": "1"})
				check(t, "s3.use_ssl", c.S3.UseSSL, true)
				check(t, "s3.path_style", c.S3.PathStyle, false)
			},
		},
		"empty env var counts as unset": {
			env: map[string]string{"VIDPIPE_STAGE_MAX_ATTEMPTS": ""},
			check: func(t *testing.T, c testConfig) {
				check(t, "stage.max_attempts", c.Stage.MaxAttempts, 5)
			},
		},
		"empty yaml file": {
			file: "# nothing set\n",
			check: func(t *testing.T, c testConfig) {
				check(t, "stage.max_attempts", c.Stage.MaxAttempts, 5)
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := load(t, tt.args, tt.env, tt.file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func check[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args    []string
		env     map[string]string
		file    string
		want    []string // substrings of the error
		notWant string   // must not appear (a secret)
		is      error
	}{
		"unknown key in file": {
			file: "stage:\n  max_attempt: 3\n",
			want: []string{`unknown key "stage.max_attempt"`, "vidpipe.yaml"},
		},
		"unknown section in file": {
			file: "stages: {max_attempts: 3}\n",
			want: []string{`unknown key "stages"`},
		},
		"section given a scalar": {
			file: "stage: 3\n",
			want: []string{"stage: is a section and must be a mapping"},
		},
		"invalid yaml": {
			file: "stage: [\n",
			want: []string{"config: file", "vidpipe.yaml"},
		},
		"wrong type from env": {
			env:  map[string]string{"VIDPIPE_STAGE_MAX_ATTEMPTS": "abc"},
			want: []string{`config: stage.max_attempts: invalid value "abc" from env VIDPIPE_STAGE_MAX_ATTEMPTS: not an integer`},
		},
		"wrong type from flag": {
			args: []string{"--s3.use_ssl=maybe"},
			want: []string{`config: s3.use_ssl: invalid value "maybe" from flag --s3.use_ssl: not a boolean`},
		},
		"wrong type in file": {
			file: "stage: {max_attempts: [1, 2]}\n",
			want: []string{"config: stage.max_attempts: invalid value", "from file"},
		},
		"duration without unit in file": {
			file: "stage: {backoff_max: 30}\n",
			want: []string{"config: stage.backoff_max: invalid value \"30\"", "has no unit"},
		},
		"bad duration from env": {
			env:  map[string]string{"VIDPIPE_STAGE_ATTEMPT_TIMEOUT": "ten minutes"},
			want: []string{"config: stage.attempt_timeout:", "not a duration"},
		},
		"bad map from env": {
			env:  map[string]string{"VIDPIPE_EXTRA_LABELS": "team"},
			want: []string{"config: extra.labels:", `"team" is not a key=value pair`},
		},
		"secret value not echoed": {
			env:     map[string]string{"VIDPIPE_EXTRA_TOKEN": "hunter2", "VIDPIPE_POSTGRES_URL": "mysql://u:hunter2@db/x"},
			want:    []string{`config: postgres.url: scheme must be postgres or postgresql (got "mysql")`},
			notWant: "hunter2",
		},
		"every decode error is reported": {
			env:  map[string]string{"VIDPIPE_STAGE_MAX_ATTEMPTS": "x", "VIDPIPE_KAFKA_PARTITIONS": "y"},
			want: []string{"kafka.partitions", "stage.max_attempts"},
		},
		"validation names the full key": {
			env:  map[string]string{"VIDPIPE_STAGE_MAX_ATTEMPTS": "0"},
			want: []string{"config: stage.max_attempts: must be at least 1 (got 0)"},
		},
		"every validation error is reported": {
			args: []string{"--stage.concurrency=0", "--kafka.brokers=", "--log.level=loud"},
			want: []string{
				"config: stage.concurrency: must be between 1 and 64 (got 0)",
				"config: kafka.brokers: must list at least one broker",
				`config: log.level: must be debug, info, warn or error (got "loud")`,
			},
		},
		"nested section validation": {
			env:  map[string]string{"VIDPIPE_EXTRA_NESTED_DEPTH": "11"},
			want: []string{"config: extra.nested.depth: must be at most 10 (got 11)"},
		},
		"top-level validation": {
			args: []string{"--stage.concurrency=9", "--postgres.max_conns=4"},
			want: []string{"config: stage.concurrency: must not exceed postgres.max_conns 4 (got 9)"},
		},
		"missing explicit file": {
			args: []string{"--config", "/nonexistent/vidpipe.yaml"},
			want: []string{"/nonexistent/vidpipe.yaml"},
			is:   fs.ErrNotExist,
		},
		"unknown flag": {
			args: []string{"--stage.max_attempt=3"},
			want: []string{"unknown flag: --stage.max_attempt"},
		},
		"positional argument": {
			args: []string{"serve"},
			want: []string{`unexpected argument "serve"`},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.args, tt.env, tt.file)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("error %q contains %q", err, tt.notWant)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

func TestLoadFieldErrorIsInspectable(t *testing.T) {
	t.Parallel()
	_, err := load(t, []string{"--stage.max_attempts=0"}, nil, "")
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Key != "stage.max_attempts" {
		t.Fatalf("errors.As(%v, *FieldError) = %+v, want key stage.max_attempts", err, fe)
	}
}

func TestLoadNeedsStructPointer(t *testing.T) {
	t.Parallel()
	tests := map[string]any{
		"nil":            nil,
		"struct value":   testConfig{},
		"pointer to int": new(int),
		"untagged field": &struct{ A int }{},
		"pointer field": &struct {
			A *config.Log `mapstructure:"a"`
		}{},
	}
	for name, out := range tests {
		t.Run(name, func(t *testing.T) {
			if err := config.Load("svc", nil, nil, out); err == nil {
				t.Fatalf("Load into %T succeeded, want an error", out)
			}
		})
	}
}

// TestLoadDefaultFile changes the working directory, so it is not parallel.
func TestLoadDefaultFile(t *testing.T) {
	tests := map[string]struct {
		defaultFile string // content of ./vidpipe.yaml; "" = no such file
		args        []string
		want        int // stage.max_attempts
	}{
		"no default file":                   {want: 5},
		"default file is read":              {defaultFile: "stage: {max_attempts: 7}\n", want: 7},
		"explicit --config replaces it":     {defaultFile: "stage: {max_attempts: 7}\n", args: []string{"--config", "other.yaml"}, want: 8},
		"flag still overrides default file": {defaultFile: "stage: {max_attempts: 7}\n", args: []string{"--stage.max_attempts=2"}, want: 2},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			if tt.defaultFile != "" {
				if err := os.WriteFile(config.DefaultFile, []byte(tt.defaultFile), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile("other.yaml", []byte("stage: {max_attempts: 8}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var c testConfig
			if err := config.Load("svc", tt.args, nil, &c); err != nil {
				t.Fatalf("Load: %v", err)
			}
			check(t, "stage.max_attempts", c.Stage.MaxAttempts, tt.want)
		})
	}
}

// TestLoadHelp swaps os.Stderr to read what -h prints, so it is not parallel.
func TestLoadHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		t.Run(arg, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			stderr := os.Stderr
			os.Stderr = w
			var c testConfig
			loadErr := config.Load("svc", []string{arg}, nil, &c)
			os.Stderr = stderr
			w.Close()
			printed, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}

			if !errors.Is(loadErr, config.ErrHelp) {
				t.Fatalf("Load(%s) = %v, want ErrHelp", arg, loadErr)
			}
			var help *config.HelpError
			if !errors.As(loadErr, &help) || help.Usage != string(printed) {
				t.Fatalf("HelpError.Usage does not match what was printed:\n%s", printed)
			}
			out := string(printed)
			if !strings.Contains(out, "--config PATH") {
				t.Errorf("usage does not mention --config PATH:\n%s", out)
			}
			for _, k := range config.Keys(&c) {
				line := fmt.Sprintf("%s  %s  (default %q)", k.Flag, k.Env, k.Default)
				if !strings.Contains(out, line) {
					t.Errorf("usage lacks %q", line)
				}
				if k.Description != "" && !strings.Contains(out, k.Description) {
					t.Errorf("usage lacks the description of %s: %q", k.Name, k.Description)
				}
			}
		})
	}
}
