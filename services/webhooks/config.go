// Package webhooks holds the configuration of the webhooks service, which
// pushes vidpipe's events to users' HTTPS endpoints in the Standard
// Webhooks format. Its parts: package endpoints (the PostgreSQL tables and
// the /v1/webhooks API that upload-api mounts), signature (Standard
// Webhooks signing), ssrf (the address guard) and dispatch (the Kafka
// consumer, the delivery workers and the webhook dead letters); the
// wiring is in cmd/webhooks.
package webhooks

import (
	"fmt"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
)

// Service is the service name: Kafka client id, CloudEvents source of
// video.failed events (/vidpipe/webhooks), log attribute, and the consumer
// group of its Kafka consumer (contract.StageWebhooks).
const Service = string(contract.StageWebhooks)

// Config is the whole configuration of the webhooks service.
type Config struct {
	Kafka    config.Kafka    `mapstructure:"kafka"`
	Postgres config.Postgres `mapstructure:"postgres"`
	Log      config.Log      `mapstructure:"log"`
	Webhooks Settings        `mapstructure:"webhooks"`
}

// Settings are the webhooks service's own options (section "webhooks").
type Settings struct {
	// AllowPrivate lets endpoints use http and reach loopback, private and
	// other internal addresses (development: a receiver on 127.0.0.1). It
	// must match upload-api's webhooks.allow_private. Default: false.
	AllowPrivate bool `mapstructure:"allow_private" default:"false" desc:"allow http URLs and internal addresses (loopback, private, link-local...) as webhook endpoints: development only"`
	// Workers is the number of deliveries POSTed at once by this process.
	// Default: 16.
	Workers int `mapstructure:"workers" default:"16" desc:"deliveries in flight at once in this process"`
	// MaxInFlightPerEndpoint bounds the deliveries to one endpoint in
	// flight at once in this process, so a slow endpoint holds at most
	// that many workers. Default: 2.
	MaxInFlightPerEndpoint int `mapstructure:"max_in_flight_per_endpoint" default:"2" desc:"deliveries to one endpoint in flight at once in this process"`
	// PollInterval is how often idle workers look for due deliveries.
	// Default: 1s.
	PollInterval time.Duration `mapstructure:"poll_interval" default:"1s" desc:"how often the delivery queue is polled when idle"`
	// AttemptTimeout bounds one POST (connect, request, response headers
	// and the bounded body). Default: 10s.
	AttemptTimeout time.Duration `mapstructure:"attempt_timeout" default:"10s" desc:"timeout of one delivery attempt"`
	// BackoffInitial is the delay after the first failed attempt; it
	// doubles per attempt up to BackoffMax, each delay drawn between its
	// half and itself (equal jitter). Default: 5s.
	BackoffInitial time.Duration `mapstructure:"backoff_initial" default:"5s" desc:"retry delay after the first failed attempt (doubles, equal jitter)"`
	// BackoffMax caps the retry delay. Default: 1h.
	BackoffMax time.Duration `mapstructure:"backoff_max" default:"1h" desc:"maximum retry delay"`
	// RetryHorizon is how long a delivery is retried before it is
	// dead-lettered to webhooks.dlq. Default: 24h.
	RetryHorizon time.Duration `mapstructure:"retry_horizon" default:"24h" desc:"how long a failing delivery is retried before it is dead-lettered"`
	// DisableAfter disables an endpoint that has failed continuously (no
	// 2xx) for this long; 0 never. Default: 120h (5 days).
	DisableAfter time.Duration `mapstructure:"disable_after" default:"120h" desc:"disable an endpoint failing continuously for this long (0: never)"`
	// DisableAfterExhausted disables an endpoint after this many
	// deliveries in a row were dead-lettered; 0 never. Default: 0.
	DisableAfterExhausted int `mapstructure:"disable_after_exhausted" default:"0" desc:"disable an endpoint after this many dead-lettered deliveries in a row (0: never)"`
	// EventRetention is how long each owner's events are kept for replay
	// (and the delivery log). Default: 720h (30 days).
	EventRetention time.Duration `mapstructure:"event_retention" default:"720h" desc:"how long events are kept for replay, and the delivery log"`
	// MaxResponseBytes bounds how much of a response body is read (and the
	// start of it kept as the error of a failed attempt). Default: 65536.
	MaxResponseBytes int64 `mapstructure:"max_response_bytes" default:"65536" desc:"bytes of an endpoint's response body read at most"`
	// OpsAddr is where /healthz, /readyz and /metrics listen. Default:
	// 127.0.0.1:8086.
	OpsAddr string `mapstructure:"ops_addr" default:"127.0.0.1:8086" desc:"listen address of /healthz, /readyz and /metrics"`
	// Migrate applies the webhook tables' migrations at start. Default: true.
	Migrate bool `mapstructure:"migrate" default:"true" desc:"apply the webhook tables' migrations at start"`
	// MigrateWait bounds how long start-up waits for PostgreSQL. Default: 2m.
	MigrateWait time.Duration `mapstructure:"migrate_wait" default:"2m" desc:"how long to wait for PostgreSQL at start before giving up"`
}

// Validate checks the settings. config.Load calls it with the prefix
// "webhooks".
func (s Settings) Validate() error {
	pos := func(key string, d time.Duration) error {
		if d <= 0 {
			return &config.FieldError{Key: key, Msg: fmt.Sprintf("must be positive (got %s)", d)}
		}
		return nil
	}
	for _, c := range []struct {
		key string
		d   time.Duration
	}{{"poll_interval", s.PollInterval}, {"attempt_timeout", s.AttemptTimeout}, {"backoff_initial", s.BackoffInitial},
		{"backoff_max", s.BackoffMax}, {"retry_horizon", s.RetryHorizon}, {"event_retention", s.EventRetention}} {
		if err := pos(c.key, c.d); err != nil {
			return err
		}
	}
	switch {
	case s.Workers < 1 || s.Workers > 1024:
		return &config.FieldError{Key: "workers", Msg: fmt.Sprintf("must be 1..1024 (got %d)", s.Workers)}
	case s.MaxInFlightPerEndpoint < 1:
		return &config.FieldError{Key: "max_in_flight_per_endpoint", Msg: fmt.Sprintf("must be at least 1 (got %d)", s.MaxInFlightPerEndpoint)}
	case s.BackoffMax < s.BackoffInitial:
		return &config.FieldError{Key: "backoff_max", Msg: fmt.Sprintf("must not be below backoff_initial %s (got %s)", s.BackoffInitial, s.BackoffMax)}
	case s.DisableAfter < 0:
		return &config.FieldError{Key: "disable_after", Msg: "must not be negative"}
	case s.DisableAfterExhausted < 0:
		return &config.FieldError{Key: "disable_after_exhausted", Msg: "must not be negative"}
	case s.MaxResponseBytes < 0:
		return &config.FieldError{Key: "max_response_bytes", Msg: "must not be negative"}
	case s.MigrateWait < 0:
		return &config.FieldError{Key: "migrate_wait", Msg: "must not be negative"}
	case s.OpsAddr == "":
		return &config.FieldError{Key: "ops_addr", Msg: "required"}
	}
	return nil
}

// API are the webhook settings of upload-api, which serves /v1/webhooks
// (section "webhooks" of its configuration; the same keys as the webhooks
// service's where they overlap).
type API struct {
	// AllowPrivate: see Settings.AllowPrivate. Default: false.
	AllowPrivate bool `mapstructure:"allow_private" default:"false" desc:"allow http URLs and internal addresses (loopback, private, link-local...) as webhook endpoints: development only"`
	// MaxEndpoints is how many endpoints one user may register. Default: 20.
	MaxEndpoints int `mapstructure:"max_endpoints" default:"20" desc:"webhook endpoints one user may register"`
	// SecretGrace is how long the previous secret keeps signing after a
	// rotate-secret (deliveries carry both signatures); 0: none. Default: 24h.
	SecretGrace time.Duration `mapstructure:"secret_grace" default:"24h" desc:"how long the previous signing secret stays valid after a rotation (0: none)"`
	// EventRetention is how far back a replay may reach; keep it equal to
	// the webhooks service's. Default: 720h.
	EventRetention time.Duration `mapstructure:"event_retention" default:"720h" desc:"how far back a replay may reach (the webhooks service's event retention)"`
}

// Validate checks upload-api's webhook settings.
func (a API) Validate() error {
	switch {
	case a.MaxEndpoints < 1:
		return &config.FieldError{Key: "max_endpoints", Msg: fmt.Sprintf("must be at least 1 (got %d)", a.MaxEndpoints)}
	case a.SecretGrace < 0:
		return &config.FieldError{Key: "secret_grace", Msg: "must not be negative"}
	case a.EventRetention <= 0:
		return &config.FieldError{Key: "event_retention", Msg: "must be positive"}
	}
	return nil
}
