package endpoints

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is one event of an owner, as delivered.
type Event struct {
	// ID is the message id (webhook-id): the CloudEvents id.
	ID string
	// Owner is the user the video belongs to.
	Owner string
	// Type is the webhook event type (EventTypes).
	Type    string
	VideoID string
	// Topic is the Kafka topic the event came from.
	Topic string
	// Time is the event's time (CloudEvents time).
	Time time.Time
	// Body is the CloudEvents structured JSON that is POSTed.
	Body []byte
}

// Record stores e in its owner's event log and enqueues one delivery of
// it for each enabled endpoint of the owner subscribed to its type, in one
// transaction. It is idempotent: an event already recorded (a redelivered
// Kafka record) is not stored again and a delivery that exists for an
// endpoint and event is left as it is. It returns the number of
// deliveries it enqueued.
func (s *Store) Record(ctx context.Context, e Event) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_events (id, owner, event_type, video_id, topic, occurred_at, body)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
			e.ID, e.Owner, e.Type, e.VideoID, e.Topic, e.Time, e.Body); err != nil {
			return fmt.Errorf("record event %s: %w", e.ID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_video_owners (video_id, owner) VALUES ($1, $2)
			ON CONFLICT (video_id) DO UPDATE SET seen_at = now()`, e.VideoID, e.Owner); err != nil {
			return fmt.Errorf("record owner of %s: %w", e.VideoID, err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type)
			SELECT id, $2, $3 FROM webhook_endpoints
			WHERE owner = $1 AND enabled AND ($3 = ANY(event_types) OR '*' = ANY(event_types))
			ON CONFLICT (endpoint_id, event_id) DO NOTHING`, e.Owner, e.ID, e.Type)
		if err != nil {
			return fmt.Errorf("enqueue deliveries of %s: %w", e.ID, err)
		}
		n = int(tag.RowsAffected())
		return nil
	})
	return n, err
}

// OwnerOf returns the owner of a video seen in an earlier event, or "".
func (s *Store) OwnerOf(ctx context.Context, videoID string) (string, error) {
	var owner string
	err := s.pool.QueryRow(ctx, `SELECT owner FROM webhook_video_owners WHERE video_id = $1`, videoID).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return owner, err
}

// EventByID returns the recorded event id, or false.
func (s *Store) EventByID(ctx context.Context, id string) (Event, bool, error) {
	var e Event
	err := s.pool.QueryRow(ctx, `SELECT id, owner, event_type, video_id, topic, occurred_at, body FROM webhook_events WHERE id = $1`, id).
		Scan(&e.ID, &e.Owner, &e.Type, &e.VideoID, &e.Topic, &e.Time, &e.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return Event{}, false, nil
	}
	if err != nil {
		return Event{}, false, fmt.Errorf("event %s: %w", id, err)
	}
	return e, true, nil
}

// Replay enqueues again every event of owner's endpoint id's owner that
// happened at or after since and that the endpoint is subscribed to:
// deliveries that exist start over (attempts 0, due now, a new retry
// horizon), missing ones are added. It returns how many it enqueued, or
// ErrNotFound.
func (s *Store) Replay(ctx context.Context, owner, id string, since time.Time) (int, error) {
	if _, err := s.Get(ctx, owner, id); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type)
		SELECT w.id, ev.id, ev.event_type FROM webhook_endpoints w
		JOIN webhook_events ev ON ev.owner = w.owner
		WHERE w.id = $1 AND w.owner = $2 AND ev.occurred_at >= $3
		  AND (ev.event_type = ANY(w.event_types) OR '*' = ANY(w.event_types))
		ON CONFLICT (endpoint_id, event_id) DO UPDATE SET status = 'pending', attempts = 0,
			next_attempt_at = now(), horizon_from = now(), last_error = NULL`, id, owner, since)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Purge deletes events recorded, and deliveries created, before
// now-retention that are no longer pending, and forgets video owners not
// seen since then. It returns the events deleted.
func (s *Store) Purge(ctx context.Context, retention time.Duration) (int64, error) {
	cut := time.Now().Add(-retention)
	if _, err := s.pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE created_at < $1 AND status <> 'pending' AND status <> 'exhausted'`, cut); err != nil {
		return 0, fmt.Errorf("purge deliveries: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM webhook_video_owners WHERE seen_at < $1`, cut); err != nil {
		return 0, fmt.Errorf("purge video owners: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_events ev WHERE recorded_at < $1
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = ev.id AND d.status IN ('pending', 'exhausted'))`, cut)
	if err != nil {
		return 0, fmt.Errorf("purge events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Restore puts e back into the event log without enqueueing anything (a
// redrive of an event the retention removed); an event recorded already
// is left as it is.
func (s *Store) Restore(ctx context.Context, e Event) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO webhook_events (id, owner, event_type, video_id, topic, occurred_at, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		e.ID, e.Owner, e.Type, e.VideoID, e.Topic, e.Time, e.Body); err != nil {
		return fmt.Errorf("restore event %s: %w", e.ID, err)
	}
	return nil
}
