package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Usage is a user's storage usage, in bytes of uploaded sources.
type Usage struct {
	// StoredBytes is the sum of the source sizes of the user's videos in
	// the status projection (every state, failed included: the source
	// stays stored; deleted videos not).
	StoredBytes int64
	// ReservedBytes is held by uploads in progress and by finished
	// uploads the projection has not seen yet.
	ReservedBytes int64
}

// Total is StoredBytes + ReservedBytes.
func (u Usage) Total() int64 { return u.StoredBytes + u.ReservedBytes }

// QuotaError is returned by Reserve when the reservation does not fit.
type QuotaError struct {
	Usage Usage // without the refused reservation
	Quota int64
	Want  int64 // bytes the refused reservation asked for
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("storage quota exceeded: %d bytes used or reserved, %d more asked, quota %d",
		e.Usage.Total(), e.Want, e.Quota)
}

// ErrQuotaExceeded matches every *QuotaError with errors.Is.
var ErrQuotaExceeded = errors.New("storage quota exceeded")

// Is makes errors.Is(err, ErrQuotaExceeded) true.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExceeded }

// quotaLockSeed prefixes the owner in the per-owner advisory lock key.
const quotaLockSeed = "vidpipe-quota:"

// usageSQL sums a user's usage: $1 owner, $2 a video id left out (its
// reservation and its projected size; empty for none), $3 the reservation
// lifetime in seconds.
const usageSQL = `SELECT
	coalesce((SELECT sum((uploaded->'source'->>'size')::bigint) FROM video_status
		WHERE owner = $1 AND uploaded IS NOT NULL AND deleted_at IS NULL AND id::text <> $2), 0)::bigint,
	coalesce((SELECT sum(r.bytes) FROM upload_reservations r
		WHERE r.owner = $1 AND r.video_id::text <> $2
		AND r.updated_at > clock_timestamp() - make_interval(secs => $3)
		AND NOT EXISTS (SELECT 1 FROM video_status v WHERE v.id = r.video_id)), 0)::bigint`

// Usage returns owner's usage; reservations older than ttl do not count.
func (s *Store) Usage(ctx context.Context, owner string, ttl time.Duration) (Usage, error) {
	var u Usage
	if err := s.pool.QueryRow(ctx, usageSQL, owner, "", ttl.Seconds()).Scan(&u.StoredBytes, &u.ReservedBytes); err != nil {
		return Usage{}, fmt.Errorf("projection store: usage of %q: %w", owner, err)
	}
	return u, nil
}

// Reserve sets the reservation of video id (owned by owner) to as many
// bytes as fit between min and max: max when the quota allows, else what
// is left of it, and a *QuotaError when not even min fits. The usage it is
// checked against leaves out video id itself (reserving for a video the
// projection already has sets what it counts, not twice). quota <= 0
// means no quota (max is reserved). It returns the bytes reserved and the
// usage without them. Reserving again for the same id replaces the
// reservation and renews its lifetime (ttl); the reservation stops
// counting once the video is in the projection, or ttl after its last
// renewal. Reservations of owner older than ttl are removed on the way.
//
// The check and the write hold a per-owner advisory lock in one
// transaction, so concurrent reservations, also from other processes,
// never exceed the quota together.
func (s *Store) Reserve(ctx context.Context, owner, id string, min, max, quota int64, ttl time.Duration) (int64, Usage, error) {
	if min < 0 || max < min {
		return 0, Usage{}, fmt.Errorf("projection store: reserve %d..%d bytes: bad range", min, max)
	}
	var (
		u        Usage
		reserved int64
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, quotaLockSeed+owner); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM upload_reservations WHERE owner = $1
			AND updated_at <= clock_timestamp() - make_interval(secs => $2)`, owner, ttl.Seconds()); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, usageSQL, owner, id, ttl.Seconds()).Scan(&u.StoredBytes, &u.ReservedBytes); err != nil {
			return err
		}
		reserved = max
		if quota > 0 {
			if left := quota - u.Total(); left < reserved {
				reserved = left
			}
			if reserved < min {
				return &QuotaError{Usage: u, Quota: quota, Want: min}
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO upload_reservations (video_id, owner, bytes) VALUES ($1, $2, $3)
			ON CONFLICT (video_id) DO UPDATE SET bytes = EXCLUDED.bytes, updated_at = clock_timestamp()
			WHERE upload_reservations.owner = EXCLUDED.owner`, id, owner, reserved)
		return err
	})
	var qe *QuotaError
	if errors.As(err, &qe) {
		return 0, u, err
	}
	if err != nil {
		return 0, Usage{}, fmt.Errorf("projection store: reserve for %s: %w", id, err)
	}
	return reserved, u, nil
}

// Release removes the reservation of video id (an upload that failed,
// was rejected or terminated).
func (s *Store) Release(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM upload_reservations WHERE video_id = $1`, id); err != nil {
		return fmt.Errorf("projection store: release reservation of %s: %w", id, err)
	}
	return nil
}
