package endpoints

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery statuses.
const (
	// StatusPending: queued, due at NextAttemptAt (an attempt may be running).
	StatusPending = "pending"
	// StatusDelivered: an attempt got a 2xx.
	StatusDelivered = "delivered"
	// StatusExhausted: failed until the retry horizon; to be dead-lettered.
	StatusExhausted = "exhausted"
	// StatusDeadLettered: failed until the retry horizon and produced to
	// webhooks.dlq.
	StatusDeadLettered = "dead_lettered"
)

// Delivery is one row of the delivery log.
type Delivery struct {
	ID            int64      `json:"id"`
	EndpointID    string     `json:"-"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	StatusCode    *int       `json:"status_code,omitempty"`
	LatencyMS     *int       `json:"latency_ms,omitempty"`
	Error         *string    `json:"error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
}

// Deliveries returns the delivery log of owner's endpoint id, newest
// first: at most limit rows with an id below before (0: from the newest).
func (s *Store) Deliveries(ctx context.Context, owner, id string, before int64, limit int) ([]Delivery, error) {
	if _, err := s.Get(ctx, owner, id); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT d.id, d.endpoint_id::text, d.event_id, d.event_type, d.status, d.attempts,
			d.last_status_code, d.last_latency_ms, d.last_error, d.created_at, d.last_attempt_at,
			CASE WHEN d.status = 'pending' THEN d.next_attempt_at END, d.delivered_at
		FROM webhook_deliveries d WHERE d.endpoint_id = $1 AND ($2 = 0 OR d.id < $2)
		ORDER BY d.id DESC LIMIT $3`, id, before, limit)
	if err != nil {
		return nil, fmt.Errorf("delivery log: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &d.StatusCode,
			&d.LatencyMS, &d.Error, &d.CreatedAt, &d.LastAttemptAt, &d.NextAttemptAt, &d.DeliveredAt); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Job is a claimed delivery: what a worker needs to POST it.
type Job struct {
	DeliveryID int64
	EndpointID string
	URL        string
	// Secrets sign the message: the current one, then the previous one
	// while its rotation grace lasts.
	Secrets []string
	Event   Event
	// Attempt is the number of this attempt (1 for the first).
	Attempt int
	// HorizonFrom starts the retry horizon.
	HorizonFrom time.Time
}

// Claim takes up to n due deliveries of enabled endpoints, at most
// perEndpoint minus inFlight[endpoint] of each endpoint (inFlight: the
// caller's attempts running per endpoint), oldest due first. Each is
// leased for lease: it is not due again before then, so a process that
// dies mid-attempt leaves it to be retried after the lease. Rows locked
// by another claimer are skipped (FOR UPDATE SKIP LOCKED), so several
// processes share the queue (the per-endpoint bound holds per process).
// The claim counts as an attempt.
func (s *Store) Claim(ctx context.Context, n, perEndpoint int, inFlight map[string]int, lease time.Duration) ([]Job, error) {
	eps, counts := []string{}, []int32{}
	for ep, c := range inFlight {
		eps, counts = append(eps, ep), append(counts, int32(c))
	}
	var jobs []Job
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH cand AS (
				SELECT c.id FROM (
					SELECT d.id, d.endpoint_id, d.next_attempt_at,
						row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rn
					FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
					WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.enabled
				) c LEFT JOIN unnest($3::text[], $5::int[]) AS f(ep, n) ON f.ep = c.endpoint_id::text
				WHERE c.rn <= $2 - coalesce(f.n, 0)
				ORDER BY c.next_attempt_at, c.id LIMIT $1
			), locked AS (
				SELECT d.id FROM webhook_deliveries d WHERE d.id IN (SELECT id FROM cand)
				  AND d.status = 'pending' AND d.next_attempt_at <= now()
				FOR UPDATE SKIP LOCKED
			)
			UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = now(),
				next_attempt_at = now() + make_interval(secs => $4)
			FROM locked, webhook_endpoints w
			WHERE d.id = locked.id AND w.id = d.endpoint_id
			RETURNING d.id, d.endpoint_id::text, w.url, w.secret,
				CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END,
				d.event_id, d.attempts, d.horizon_from`, n, perEndpoint, eps, lease.Seconds(), counts)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var j Job
			var secret string
			var prev *string
			if err := rows.Scan(&j.DeliveryID, &j.EndpointID, &j.URL, &secret, &prev, &j.Event.ID, &j.Attempt, &j.HorizonFrom); err != nil {
				return err
			}
			j.Secrets = []string{secret}
			if prev != nil {
				j.Secrets = append(j.Secrets, *prev)
			}
			jobs = append(jobs, j)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range jobs {
			e, ok, err := eventTx(ctx, tx, jobs[i].Event.ID)
			if err != nil {
				return err
			}
			if !ok {
				e.ID = jobs[i].Event.ID // purged: the worker fails it
			}
			jobs[i].Event = e
		}
		return nil
	})
	return jobs, err
}

func eventTx(ctx context.Context, tx pgx.Tx, id string) (Event, bool, error) {
	var e Event
	err := tx.QueryRow(ctx, `SELECT id, owner, event_type, video_id, topic, occurred_at, body FROM webhook_events WHERE id = $1`, id).
		Scan(&e.ID, &e.Owner, &e.Type, &e.VideoID, &e.Topic, &e.Time, &e.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return Event{}, false, nil
	}
	return e, err == nil, err
}

// Outcome is the result of one attempt.
type Outcome struct {
	// StatusCode is the HTTP status (0: no response).
	StatusCode int
	Latency    time.Duration
	// Err describes a failure ("" for a 2xx).
	Err string
}

// Delivered records a 2xx for delivery id and ends its endpoint's failure
// streak.
func (s *Store) Delivered(ctx context.Context, j Job, o Outcome) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(),
				last_status_code = $2, last_latency_ms = $3, last_error = NULL WHERE id = $1`,
			j.DeliveryID, o.StatusCode, o.Latency.Milliseconds()); err != nil {
			return fmt.Errorf("record delivery %d: %w", j.DeliveryID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET failing_since = NULL, exhausted_streak = 0
				WHERE id = $1 AND (failing_since IS NOT NULL OR exhausted_streak <> 0)`, j.EndpointID); err != nil {
			return fmt.Errorf("record endpoint success: %w", err)
		}
		return nil
	})
}

// DisablePolicy says when a failing endpoint is disabled.
type DisablePolicy struct {
	// FailingFor: failing continuously (no 2xx) for this long.
	FailingFor time.Duration
	// Exhausted: this many deliveries in a row failed until the horizon.
	Exhausted int
}

// Failed records a failed attempt of j. With retryAt set the delivery is
// due again then; with exhausted it is given up (StatusExhausted, to be
// dead-lettered) and counted in the endpoint's streak. The endpoint is
// disabled when the policy says so; disabled reports it.
func (s *Store) Failed(ctx context.Context, j Job, o Outcome, retryAt time.Time, exhausted bool, p DisablePolicy) (disabled bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		status := StatusPending
		if exhausted {
			status = StatusExhausted
		}
		code := &o.StatusCode
		if o.StatusCode == 0 {
			code = nil
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3,
				last_status_code = $4, last_latency_ms = $5, last_error = $6 WHERE id = $1`,
			j.DeliveryID, status, retryAt, code, o.Latency.Milliseconds(), o.Err); err != nil {
			return fmt.Errorf("record failed delivery %d: %w", j.DeliveryID, err)
		}
		streak := 0
		if exhausted {
			streak = 1
		}
		var exhaustedStreak int
		var enabled bool
		var secs float64
		if err := tx.QueryRow(ctx, `UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now()),
				exhausted_streak = exhausted_streak + $2
			WHERE id = $1 RETURNING enabled, exhausted_streak, extract(epoch FROM now() - failing_since)::float8`,
			j.EndpointID, streak).Scan(&enabled, &exhaustedStreak, &secs); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // the endpoint was deleted meanwhile
			}
			return fmt.Errorf("record endpoint failure: %w", err)
		}
		failingFor := time.Duration(secs * float64(time.Second))
		reason := ""
		switch {
		case !enabled:
		case p.Exhausted > 0 && exhaustedStreak >= p.Exhausted:
			reason = fmt.Sprintf("%d deliveries in a row failed until the retry horizon", exhaustedStreak)
		case p.FailingFor > 0 && failingFor >= p.FailingFor:
			reason = fmt.Sprintf("failing continuously for %s", failingFor.Round(time.Second))
		}
		if reason == "" {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now()
			WHERE id = $1`, j.EndpointID, reason); err != nil {
			return fmt.Errorf("disable endpoint: %w", err)
		}
		disabled = true
		return nil
	})
	return disabled, err
}

// DeadLetterJob is an exhausted delivery to produce to webhooks.dlq.
type DeadLetterJob struct {
	Job
	Outcome  Outcome
	Attempts int
}

// Exhausted returns up to n deliveries given up and not yet dead-lettered,
// with their events.
func (s *Store) Exhausted(ctx context.Context, n int) ([]DeadLetterJob, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.id, d.endpoint_id::text, w.url, d.event_id, d.attempts,
			coalesce(d.last_status_code, 0), coalesce(d.last_latency_ms, 0), coalesce(d.last_error, ''), d.horizon_from
		FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
		WHERE d.status = 'exhausted' ORDER BY d.id LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("exhausted deliveries: %w", err)
	}
	var out []DeadLetterJob
	for rows.Next() {
		var d DeadLetterJob
		var ms int
		if err := rows.Scan(&d.DeliveryID, &d.EndpointID, &d.URL, &d.Event.ID, &d.Attempts,
			&d.Outcome.StatusCode, &ms, &d.Outcome.Err, &d.HorizonFrom); err != nil {
			rows.Close()
			return nil, err
		}
		d.Outcome.Latency = time.Duration(ms) * time.Millisecond
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		e, ok, err := s.EventByID(ctx, out[i].Event.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			out[i].Event = e
		}
	}
	return out, nil
}

// MarkDeadLettered records that delivery id was produced to webhooks.dlq.
func (s *Store) MarkDeadLettered(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET status = 'dead_lettered' WHERE id = $1 AND status = 'exhausted'`, id)
	if err != nil {
		return fmt.Errorf("mark delivery %d dead-lettered: %w", id, err)
	}
	return nil
}

// Redrive enqueues the delivery of event eventID to endpoint endpointID
// again (attempts 0, due now, a new retry horizon), once per redriveID:
// a redrive record delivered twice is applied once. The event must be
// recorded (see Record). It reports false when the endpoint no longer
// exists or the redrive was applied already.
func (s *Store) Redrive(ctx context.Context, endpointID, eventID, eventType, redriveID string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, redrive_id)
		SELECT id, $2, $3, $4 FROM webhook_endpoints WHERE id::text = $1
		ON CONFLICT (endpoint_id, event_id) DO UPDATE SET status = 'pending', attempts = 0, next_attempt_at = now(),
			horizon_from = now(), redrive_id = EXCLUDED.redrive_id
		WHERE webhook_deliveries.redrive_id IS DISTINCT FROM EXCLUDED.redrive_id`, endpointID, eventID, eventType, redriveID)
	if err != nil {
		return false, fmt.Errorf("redrive delivery of %s to %s: %w", eventID, endpointID, err)
	}
	return tag.RowsAffected() > 0, nil
}

// QueueAge is, per endpoint with deliveries due, how long its oldest due
// delivery has waited.
func (s *Store) QueueAge(ctx context.Context) (map[string]time.Duration, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.endpoint_id::text, extract(epoch FROM now() - min(d.next_attempt_at))::float8
		FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
		WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.enabled GROUP BY d.endpoint_id`)
	if err != nil {
		return nil, fmt.Errorf("queue age: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Duration{}
	for rows.Next() {
		var id string
		var secs float64
		if err := rows.Scan(&id, &secs); err != nil {
			return nil, err
		}
		out[id] = time.Duration(secs * float64(time.Second))
	}
	return out, rows.Err()
}

// Release makes a claimed delivery due again at once and takes back the
// attempt its claim counted (a claimer took more than it may run).
func (s *Store) Release(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = now(), attempts = greatest(attempts - 1, 0)
		WHERE id = $1 AND status = 'pending'`, id)
	if err != nil {
		return fmt.Errorf("release delivery %d: %w", id, err)
	}
	return nil
}
