package projection

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	deadletters "github.com/vidpipe/vidpipe/platform/dlq"
)

// ConflictError is returned by Reprocess when the video cannot be
// reprocessed now; Reason says why, in words for the owner.
type ConflictError struct{ Reason string }

func (e *ConflictError) Error() string { return e.Reason }

// Conflictf returns a *ConflictError.
func Conflictf(format string, args ...any) error {
	return &ConflictError{Reason: fmt.Sprintf(format, args...)}
}

// NewestGeneration is the newest output generation st knows: the one
// being reprocessed, else the one served.
func (st State) NewestGeneration() int {
	if st.Reprocessing != nil && st.Reprocessing.Generation > st.Generation {
		return st.Reprocessing.Generation
	}
	return st.Generation
}

// Reprocess starts the next output generation of owner's video id, at
// most one at a time, also across API replicas: under a PostgreSQL
// advisory lock of the video, it reads the video's state (ErrNotFound for
// a missing video or another owner's), refuses with a *ConflictError when
// a generation requested earlier has not reached the projection yet,
// calls check (which refuses a state that may not be reprocessed), then
// start with the next generation (the newest known + 1), and records that
// generation as requested (table reprocess_requests) only when start
// succeeded. start publishes the generation's video.uploaded; it runs
// with the lock held, so a second request waits for it and then sees
// the first one.
func (s *Store) Reprocess(ctx context.Context, owner, id string, check func(State) error,
	start func(ctx context.Context, st State, gen int) error) (gen int, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('vidpipe.reprocess.' || $1, 0))`, id); err != nil {
			return fmt.Errorf("lock video %s: %w", id, err)
		}
		st, err := loadState(ctx, tx, s.pipe, id)
		if err != nil {
			return err
		}
		if st.Owner != owner || st.Deleted {
			return ErrNotFound
		}
		var requested int
		err = tx.QueryRow(ctx, `SELECT generation FROM reprocess_requests WHERE video_id = $1`, id).Scan(&requested)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read reprocess request of %s: %w", id, err)
		}
		if requested > st.NewestGeneration() {
			return Conflictf("a reprocess (generation %d) was accepted and has not started yet", requested)
		}
		if err := check(st); err != nil {
			return err
		}
		gen = st.NewestGeneration() + 1
		if err := start(ctx, st, gen); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO reprocess_requests (video_id, generation) VALUES ($1, $2)
			ON CONFLICT (video_id) DO UPDATE SET generation = EXCLUDED.generation, requested_at = clock_timestamp()`, id, gen); err != nil {
			return fmt.Errorf("record reprocess request of %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return gen, nil
}

// WithRedriveLock runs fn holding a PostgreSQL advisory lock that every
// API replica takes around its dead-letter redrives (POST
// /v1/videos/{id}/retry), so that two of them never run at once: the
// redrive bookkeeping (platform/dlq) assumes one redrive of a stage at a
// time, and a second retry of the same video waits and then finds its
// dead letters already redriven. vidpipectl dlq redrive takes the same
// lock (dlq.LockRedrives).
func (s *Store) WithRedriveLock(ctx context.Context, fn func(ctx context.Context) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, deadletters.RedriveLockName); err != nil {
			return fmt.Errorf("lock redrives: %w", err)
		}
		return fn(ctx)
	})
}
