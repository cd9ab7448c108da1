// Package endpoints is the webhooks' state in PostgreSQL and the HTTP API
// that manages it.
//
// Tables (migrations/, applied by [Migrate]): webhook_endpoints (a user's
// endpoints and their secrets), webhook_events (every event of an owner,
// kept for the retention so it can be replayed), webhook_video_owners
// (which user owns a video, for dead letters whose value is elsewhere) and
// webhook_deliveries (one row per endpoint and event: the delivery queue
// while pending, then the delivery log).
//
// [API] serves /v1/webhooks; upload-api mounts it behind its own bearer
// authentication, so every query is scoped to the authenticated owner and
// another user's endpoint is not found (404).
package endpoints

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/webhooks/signature"
)

// ErrNotFound: no such endpoint of this owner.
var ErrNotFound = errors.New("webhook endpoint not found")

// Store reads and writes the webhook tables.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store on pool (migrated with Migrate).
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Ping checks that the database answers (a readiness check).
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Endpoint is a registered webhook endpoint. Its secrets are not part of
// it: they are shown once, when made (Create, RotateSecret).
type Endpoint struct {
	ID             string     `json:"id"`
	Owner          string     `json:"-"`
	URL            string     `json:"url"`
	Description    string     `json:"description"`
	EventTypes     []string   `json:"event_types"`
	Enabled        bool       `json:"enabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	FailingSince   *time.Time `json:"failing_since,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

const endpointCols = `id::text, owner, url, description, event_types, enabled, coalesce(disabled_reason, ''),
	disabled_at, failing_since, created_at, updated_at`

func scanEndpoint(row pgx.Row) (Endpoint, error) {
	var e Endpoint
	err := row.Scan(&e.ID, &e.Owner, &e.URL, &e.Description, &e.EventTypes, &e.Enabled, &e.DisabledReason,
		&e.DisabledAt, &e.FailingSince, &e.CreatedAt, &e.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

// NewEndpoint is what a user registers.
type NewEndpoint struct {
	URL         string
	Description string
	EventTypes  []string
	// Max, when positive, is how many endpoints the owner may have: Create
	// counts them and inserts under a per-owner lock, so concurrent
	// creates cannot pass it together.
	Max int
}

// LimitError is Create's error when the owner already has NewEndpoint.Max
// endpoints.
type LimitError struct{ Count int }

func (e *LimitError) Error() string {
	return fmt.Sprintf("owner has %d webhook endpoints, the most allowed", e.Count)
}

// ownerLockSeed prefixes the owner in the per-owner advisory lock key of
// Create (the convention of the other vidpipe advisory locks).
const ownerLockSeed = "vidpipe-webhooks-owner:"

// Create stores a new enabled endpoint of owner with a new secret and
// returns it and the secret; with n.Max > 0 it returns a *LimitError when
// owner already has n.Max endpoints.
func (s *Store) Create(ctx context.Context, owner string, n NewEndpoint) (Endpoint, string, error) {
	secret := signature.NewSecret()
	var e Endpoint
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if n.Max > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, ownerLockSeed+owner); err != nil {
				return fmt.Errorf("lock owner: %w", err)
			}
			var count int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE owner = $1`, owner).Scan(&count); err != nil {
				return fmt.Errorf("count endpoints: %w", err)
			}
			if count >= n.Max {
				return &LimitError{Count: count}
			}
		}
		var err error
		e, err = scanEndpoint(tx.QueryRow(ctx, `INSERT INTO webhook_endpoints (id, owner, url, description, event_types, secret)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+endpointCols,
			contract.NewID(), owner, n.URL, n.Description, n.EventTypes, secret))
		return err
	})
	if err != nil {
		var le *LimitError
		if errors.As(err, &le) {
			return Endpoint{}, "", le
		}
		return Endpoint{}, "", fmt.Errorf("create webhook endpoint: %w", err)
	}
	return e, secret, nil
}

// Count is the number of endpoints of owner.
func (s *Store) Count(ctx context.Context, owner string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE owner = $1`, owner).Scan(&n)
	return n, err
}

// List returns owner's endpoints, oldest first.
func (s *Store) List(ctx context.Context, owner string) ([]Endpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE owner = $1 ORDER BY created_at, id`, owner)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	out := []Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Get returns owner's endpoint id, or ErrNotFound (also for an id that is
// no UUID and for another owner's endpoint).
func (s *Store) Get(ctx context.Context, owner, id string) (Endpoint, error) {
	if !contract.IsUUID(id) {
		return Endpoint{}, ErrNotFound
	}
	return scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE owner = $1 AND id = $2`, owner, id))
}

// Delete removes owner's endpoint id and its delivery log (pending
// deliveries included), or returns ErrNotFound.
func (s *Store) Delete(ctx context.Context, owner, id string) error {
	if !contract.IsUUID(id) {
		return ErrNotFound
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_endpoints WHERE owner = $1 AND id = $2`, owner, id)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// RotateSecret gives owner's endpoint id a new secret and returns it. The
// old secret stays valid for grace: deliveries until then carry a
// signature with each (0: the old one stops at once).
func (s *Store) RotateSecret(ctx context.Context, owner, id string, grace time.Duration) (Endpoint, string, error) {
	if !contract.IsUUID(id) {
		return Endpoint{}, "", ErrNotFound
	}
	secret := signature.NewSecret()
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `UPDATE webhook_endpoints SET
			previous_secret = CASE WHEN $4 > 0 THEN secret END,
			previous_secret_until = CASE WHEN $4 > 0 THEN now() + make_interval(secs => $4) END,
			secret = $3, updated_at = now()
		WHERE owner = $1 AND id = $2 RETURNING `+endpointCols, owner, id, secret, grace.Seconds()))
	if err != nil {
		return Endpoint{}, "", err
	}
	return e, secret, nil
}

// Enable re-enables owner's endpoint id (after it was disabled for
// failing) and clears its failure streak; deliveries still pending resume.
func (s *Store) Enable(ctx context.Context, owner, id string) (Endpoint, error) {
	if !contract.IsUUID(id) {
		return Endpoint{}, ErrNotFound
	}
	return scanEndpoint(s.pool.QueryRow(ctx, `UPDATE webhook_endpoints SET enabled = true, disabled_reason = NULL,
			disabled_at = NULL, failing_since = NULL, exhausted_streak = 0, updated_at = now()
		WHERE owner = $1 AND id = $2 RETURNING `+endpointCols, owner, id))
}
