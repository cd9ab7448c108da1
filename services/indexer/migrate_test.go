package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/migrate"
)

func TestRetryable(t *testing.T) {
	tests := map[string]struct {
		err  error
		want bool
	}{
		"connection refused":   {errors.New("dial tcp: connection refused"), true},
		"starting up":          {fmt.Errorf("migrate: %w", &pgconn.PgError{Code: "57P03"}), true},
		"connection exception": {&pgconn.PgError{Code: "08006"}, true},
		"too many connections": {&pgconn.PgError{Code: "53300"}, true},
		"syntax error":         {&pgconn.PgError{Code: "42601"}, false},
		"newer schema":         {fmt.Errorf("catalog: %w", migrate.ErrNewerSchema), false},
		"invalid files":        {fmt.Errorf("catalog: %w: Missing migration 2", migrate.ErrInvalidSource), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := retryable(tc.err); got != tc.want {
				t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestMigrateWithRetryWaitsForTheDatabase(t *testing.T) {
	// A private server, since this test stops it.
	pg := harness.StartPostgres(t)
	url := harness.MustDatabase(t, pg)
	pg.Stop(t)

	ctx := context.Background()
	pool, err := catalog.Connect(ctx, config.Postgres{URL: url, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	done := make(chan error, 1)
	go func() { done <- MigrateWithRetry(ctx, pool, 2*time.Minute, log) }()

	// Migrations cannot finish while the server is down: they are still
	// retrying after a couple of backoff steps.
	select {
	case err := <-done:
		t.Fatalf("MigrateWithRetry returned while the database was down: %v", err)
	case <-time.After(700 * time.Millisecond):
	}
	pg.Start(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("MigrateWithRetry: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("MigrateWithRetry did not finish after the database came up")
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT version FROM "+catalog.VersionTable).Scan(&n); err != nil || n == 0 {
		t.Errorf("catalog schema version = %d, err %v", n, err)
	}
}

func TestMigrateWithRetryGivesUp(t *testing.T) {
	pool, err := catalog.Connect(context.Background(), config.Postgres{URL: "postgres://x@127.0.0.1:1/x?sslmode=disable", MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	err = MigrateWithRetry(context.Background(), pool, 600*time.Millisecond, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("MigrateWithRetry succeeded against a closed port")
	}
}
