// Package indexer is the last vidpipe stage: it consumes video.thumbnailed,
// upserts the video into the PostgreSQL catalog (package catalog) and
// publishes video.ready carrying the full document.
package indexer

import (
	"fmt"
	"time"

	"github.com/vidpipe/vidpipe/platform/config"
)

// Config is the indexer's configuration. Keys, defaults and environment
// variables follow platform/config: e.g. postgres.url is
// VIDPIPE_POSTGRES_URL and --postgres.url.
type Config struct {
	Kafka    config.Kafka    `mapstructure:"kafka"`
	Postgres config.Postgres `mapstructure:"postgres"`
	Stage    config.Stage    `mapstructure:"stage"`
	Log      config.Log      `mapstructure:"log"`
	Indexer  Settings        `mapstructure:"indexer"`
}

// Settings are the indexer's own options.
type Settings struct {
	// Migrate applies the embedded catalog migrations at start. Default: true.
	Migrate bool `mapstructure:"migrate" default:"true" desc:"apply the catalog schema migrations at start"`
	// MigrateWait bounds how long start-up keeps retrying the migrations
	// while PostgreSQL is unreachable (backoff 250ms doubling to 5s).
	// Default: 2m.
	MigrateWait time.Duration `mapstructure:"migrate_wait" default:"2m" desc:"how long to wait for PostgreSQL at start before giving up"`
}

// Validate checks the indexer's own settings. config.Load calls it with
// the key prefix "indexer".
func (s Settings) Validate() error {
	if s.MigrateWait < 0 {
		return &config.FieldError{Key: "migrate_wait", Msg: fmt.Sprintf("must not be negative (got %s)", s.MigrateWait)}
	}
	return nil
}

// Validate checks what no single section can: every consumer-group member
// needs a database connection. config.Load has validated each section
// before it calls this.
func (c Config) Validate() error {
	if c.Stage.Concurrency > c.Postgres.MaxConns {
		return &config.FieldError{Key: "stage.concurrency", Msg: fmt.Sprintf(
			"must not exceed postgres.max_conns %d (got %d): members would wait for connections",
			c.Postgres.MaxConns, c.Stage.Concurrency)}
	}
	return nil
}
