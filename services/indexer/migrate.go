package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/migrate"
)

// migrateRetry paces MigrateWithRetry: 250ms doubling to 5s, no jitter.
var migrateRetry = backoff.Policy{Initial: 250 * time.Millisecond, Max: 5 * time.Second}

// MigrateWithRetry applies the catalog migrations, retrying while the
// database is unreachable or still starting (backoff 250ms doubling to 5s)
// for at most wait. An error PostgreSQL returns for the migration itself
// (bad SQL), unloadable migration files and a schema newer than this
// binary are not retried.
func MigrateWithRetry(ctx context.Context, pool *pgxpool.Pool, wait time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for attempt := 1; ; attempt++ {
		applied, err := catalog.Migrate(ctx, pool)
		if err == nil {
			for _, m := range applied {
				log.InfoContext(ctx, "catalog migration applied", "version", m.Version, "name", m.Name)
			}
			return nil
		}
		if !retryable(err) {
			return err
		}
		delay := migrateRetry.Delay(attempt)
		log.WarnContext(ctx, "catalog not reachable, retrying migrations", "attempt", attempt, "in", delay, "err", err)
		if !backoff.Sleep(ctx, delay) {
			return fmt.Errorf("migrations: database unreachable for %s: %w", wait, err)
		}
	}
}

// retryable reports whether a migration error may pass by itself: anything
// that is not an answer from PostgreSQL (connection refused, reset), or an
// answer saying it cannot serve yet (SQLSTATE class 08 connection
// exception, 53 insufficient resources, 57 operator intervention such as
// "the database system is starting up", 40 transaction rollback).
func retryable(err error) bool {
	if errors.Is(err, migrate.ErrNewerSchema) || errors.Is(err, migrate.ErrInvalidSource) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	switch pgErr.Code[:min(2, len(pgErr.Code))] {
	case "08", "53", "57", "40":
		return true
	}
	return false
}
