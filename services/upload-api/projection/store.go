package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/contract"
)

// ErrNotFound is returned by Get for a video that does not exist and, so
// that ids cannot be probed, for a video that belongs to someone else.
var ErrNotFound = errors.New("video not found")

// notifyChannel is the PostgreSQL LISTEN/NOTIFY channel on which Apply
// announces a changed video; the payload is the video id.
const notifyChannel = "vidpipe_video_status"

// Store is the status projection in PostgreSQL (table video_status). It is
// safe for concurrent use, also by several processes on one database.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	hub  *hub
	pipe contract.Pipeline
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithLogger sets the Store's logger. Default: slog.Default().
func WithLogger(l *slog.Logger) StoreOption { return func(s *Store) { s.log = l } }

// WithPipeline sets the pipeline whose steps and dead-letter topics the
// Store projects: the statuses, their ranks and how each topic's values
// decode. Open fails when p does not validate. Default:
// contract.DefaultPipeline().
func WithPipeline(p contract.Pipeline) StoreOption { return func(s *Store) { s.pipe = p } }

// Open applies the embedded migrations (see Migrate) and returns a Store on
// pool. The pool stays the caller's: close it after the Store's last use.
func Open(ctx context.Context, pool *pgxpool.Pool, opts ...StoreOption) (*Store, error) {
	s := &Store{pool: pool, log: slog.Default(), pipe: contract.DefaultPipeline()}
	for _, o := range opts {
		o(s)
	}
	if err := s.pipe.Validate(); err != nil {
		return nil, fmt.Errorf("open projection store: %w", err)
	}
	s.hub = newHub(s)
	if err := Migrate(ctx, pool); err != nil {
		return nil, fmt.Errorf("open projection store: %w", err)
	}
	return s, nil
}

// Pipeline returns the pipeline the Store projects (see WithPipeline).
func (s *Store) Pipeline() contract.Pipeline { return s.pipe }

// Ping reports whether the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("projection store: ping: %w", err)
	}
	return nil
}

const selectState = `SELECT id::text, owner, stage_rank, failed_stage, reason, error_class, error_code, attempts,
	uploaded, ready, version, updated_at, failed_item, hls_master_key, progress, generation, reprocessing, deleted_at, edit FROM video_status`

// Get returns the state of video id as owner sees it. It returns
// ErrNotFound when the video does not exist, belongs to another owner, was
// deleted, or id is not a lowercase UUID.
func (s *Store) Get(ctx context.Context, owner, id string) (State, error) {
	st, err := s.load(ctx, id)
	if err != nil {
		return State{}, err
	}
	if st.Owner != owner || st.Deleted {
		return State{}, ErrNotFound
	}
	return st, nil
}

// load returns the state of id whoever owns it.
func (s *Store) load(ctx context.Context, id string) (State, error) {
	return loadState(ctx, s.pool, s.pipe, id)
}

// querier is what loadState needs of a pool or a connection.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// loadState reads the state of id on q, as pipeline p names its status.
func loadState(ctx context.Context, q querier, p contract.Pipeline, id string) (State, error) {
	if !contract.IsUUID(id) {
		return State{}, ErrNotFound
	}
	st, err := scanState(q.QueryRow(ctx, selectState+` WHERE id = $1`, id), p)
	if errors.Is(err, pgx.ErrNoRows) {
		return State{}, ErrNotFound
	}
	if err != nil {
		return State{}, fmt.Errorf("projection store: get %s: %w", id, err)
	}
	return st, nil
}

// scanState reads a row of selectState; p names its status.
func scanState(r pgx.Row, p contract.Pipeline) (State, error) {
	var (
		st              State
		rw              row
		failed          string
		uploaded, ready []byte
		progress        []byte
		reproc          []byte
		deletedAt       *time.Time
		edit            []byte
	)
	if err := r.Scan(&st.VideoID, &st.Owner, &rw.rank, &failed, &st.Reason, &st.ErrorClass, &st.ErrorCode, &st.Attempts,
		&uploaded, &ready, &st.Version, &st.UpdatedAt, &st.FailedItem, &st.HLSMasterKey, &progress, &st.Generation, &reproc, &deletedAt, &edit); err != nil {
		return State{}, err
	}
	if reproc != nil {
		var rd reprocDoc
		if err := json.Unmarshal(reproc, &rd); err != nil {
			return State{}, fmt.Errorf("decode stored reprocessing: %w", err)
		}
		st.Reprocessing = rd.public(p)
	}
	st.Deleted = deletedAt != nil
	if progress != nil && failed == "" {
		var pd progressDoc
		if err := json.Unmarshal(progress, &pd); err != nil {
			return State{}, fmt.Errorf("decode stored progress: %w", err)
		}
		st.Progress = pd.public()
	}
	st.FailedStage = contract.Stage(failed)
	rw.failedStage = st.FailedStage
	st.Status = rw.status(p)
	st.Complete = rw.failedStage == "" && rw.rank == p.MaxRank()
	if uploaded != nil {
		st.Uploaded = new(contract.VideoUploaded)
		if err := json.Unmarshal(uploaded, st.Uploaded); err != nil {
			return State{}, fmt.Errorf("decode stored uploaded document: %w", err)
		}
	}
	if ready != nil {
		st.Ready = new(contract.VideoReady)
		if err := json.Unmarshal(ready, st.Ready); err != nil {
			return State{}, fmt.Errorf("decode stored ready document: %w", err)
		}
	}
	st.UpdatedAt = st.UpdatedAt.UTC()
	if err := st.applyEdit(edit); err != nil {
		return State{}, err
	}
	return st, nil
}

// Apply folds one record of a stage topic or a dead-letter topic into the
// projection, in one transaction.
//
// It is idempotent: a record at or below the last offset applied for the
// video from the same topic/partition is ignored, and applying an event
// that says nothing new changes nothing (Version stays). It is monotonic:
// the status ranks in the pipeline's step order (uploaded < playable <
// transcoded < thumbnailed < ready by default) and never moves back,
// whatever order the topics are read in; a dead letter of stage S marks
// the video failed (with S, dlq.error, dlq.error_class, dlq.error_code,
// dlq.attempts and the work item, if it was one) unless the video already
// reached what S produces (a stale dead letter); a stage event beyond the
// failed stage (the dead letter was redriven and succeeded) replaces
// failed. A work completion (video.transcode.chunks-done) counts toward the
// progress; a record of another work topic is ignored (nil). See the
// package doc for the rules of work items.
//
// The owner comes from the event value. A record that can never apply
// returns an error matching ErrUndecodable; any other error (database
// unreachable, ...) is transient: retry the same record. When the state
// changed, Apply issues NOTIFY vidpipe_video_status with the video id in the
// same transaction and, after commit, notifies this process's subscribers.
func (s *Store) Apply(ctx context.Context, rec Record) error {
	ob, err := observe(s.pipe, rec)
	if err != nil {
		return err
	}
	if ob.ignore {
		return nil
	}
	for attempt := 0; ; attempt++ {
		st, changed, retry, err := s.applyTx(ctx, rec, ob)
		if err != nil {
			return err
		}
		if retry && attempt < 3 {
			continue // lost an insert race with another replica: read its row
		}
		if retry {
			return fmt.Errorf("projection store: apply %s/%d@%d: video %s: insert race did not settle", rec.Topic, rec.Partition, rec.Offset, ob.videoID)
		}
		if changed {
			s.hub.publish(st)
		}
		return nil
	}
}

// applyTx runs one attempt of Apply in a transaction, in three phases:
// read the stored row (locked), decide what the record changes, write it.
// retry is true when a concurrent insert of the same video won the race.
func (s *Store) applyTx(ctx context.Context, rec Record, ob observation) (st State, changed, retry bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, offsets, err := readStored(ctx, tx, ob.videoID)
		if err != nil {
			return err
		}
		if cur.deleted {
			// The owner deleted the video: events still in flight for it
			// are dropped, nothing comes back to life.
			s.log.Debug("projection: record of a deleted video dropped", "topic", rec.Topic, "partition", rec.Partition,
				"offset", rec.Offset, "video_id", ob.videoID)
			return nil
		}
		d, err := decide(cur, offsets, rec, ob)
		if err != nil {
			return err
		}
		if d.write == writeNothing {
			if d.redelivered {
				s.log.Debug("projection: redelivered record ignored", "topic", rec.Topic, "partition", rec.Partition,
					"offset", rec.Offset, "video_id", ob.videoID)
			}
			return nil
		}
		st, changed, retry, err = s.write(ctx, tx, ob.videoID, d)
		if retry {
			return errRollback
		}
		return err
	})
	if retry {
		return State{}, false, true, nil
	}
	if err != nil {
		if errors.Is(err, ErrUndecodable) {
			return State{}, false, false, err
		}
		return State{}, false, false, fmt.Errorf("projection store: apply %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	return st, changed, false, nil
}

// readStored reads video id's row FOR UPDATE: its state (exists=false when
// there is none) and the offsets applied per topic/partition.
func readStored(ctx context.Context, tx pgx.Tx, id string) (row, map[string]int64, error) {
	var (
		cur             row
		failed          string
		uploaded, ready []byte
		offsetsJSON     []byte
		progress        []byte
		reproc          []byte
		version         int64
	)
	err := tx.QueryRow(ctx, `SELECT owner, stage_rank, failed_stage, reason, error_class, error_code, attempts,
		uploaded, ready, version, last_offsets, failed_item, hls_master_key, progress, generation, reprocessing, deleted_at IS NOT NULL
		FROM video_status WHERE id = $1 FOR UPDATE`, id).
		Scan(&cur.owner, &cur.rank, &failed, &cur.reason, &cur.errorClass, &cur.errorCode, &cur.attempts, &uploaded, &ready, &version, &offsetsJSON,
			&cur.failedItem, &cur.hlsKey, &progress, &cur.generation, &reproc, &cur.deleted)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return row{}, nil, fmt.Errorf("read video %s: %w", id, err)
	default:
		cur.exists = true
		cur.failedStage = contract.Stage(failed)
		if uploaded != nil {
			var u contract.VideoUploaded
			if err := json.Unmarshal(uploaded, &u); err != nil {
				return row{}, nil, fmt.Errorf("decode stored uploaded document of %s: %w", id, err)
			}
			cur.video = &u.Video
		}
		if ready != nil {
			cur.ready = new(contract.VideoReady)
			if err := json.Unmarshal(ready, cur.ready); err != nil {
				return row{}, nil, fmt.Errorf("decode stored ready document of %s: %w", id, err)
			}
		}
		if progress != nil {
			cur.progress = new(progressDoc)
			if err := json.Unmarshal(progress, cur.progress); err != nil {
				return row{}, nil, fmt.Errorf("decode stored progress of %s: %w", id, err)
			}
		}
		if reproc != nil {
			cur.reproc = new(reprocDoc)
			if err := json.Unmarshal(reproc, cur.reproc); err != nil {
				return row{}, nil, fmt.Errorf("decode stored reprocessing of %s: %w", id, err)
			}
		}
	}
	offsets := map[string]int64{}
	if offsetsJSON != nil {
		if err := json.Unmarshal(offsetsJSON, &offsets); err != nil {
			return row{}, nil, fmt.Errorf("decode stored offsets of %s: %w", id, err)
		}
	}
	return cur, offsets, nil
}

// writeKind is the statement a decision needs.
type writeKind int

const (
	writeNothing writeKind = iota // a redelivery, or nothing new and no offset to remember
	writeInsert                   // a new video
	writeState                    // the state changed: the whole row, version + 1
	writeOffsets                  // only the offsets: the state is the same
)

// decision is what applying one record does to a stored row, encoded for
// the write.
type decision struct {
	write writeKind
	// redelivered is set (with writeNothing) for a record at or below the
	// offset already applied from its topic/partition.
	redelivered bool
	next        row
	offsets     []byte // JSON of the offsets, rec's included
	uploaded    []byte // JSON of the uploaded document, nil without one
	ready       []byte // JSON of the ready document, nil without one
	progress    []byte // JSON of the progress, nil without one
	reproc      []byte // JSON of the generation being reprocessed, nil without one
}

// decide folds ob (read from rec) into the stored row cur and offsets. It
// runs no statement; its error matches ErrUndecodable when the record can
// never apply (see advance).
func decide(cur row, offsets map[string]int64, rec Record, ob observation) (decision, error) {
	key := rec.offsetKey()
	if last, ok := offsets[key]; ok && rec.Offset >= 0 && rec.Offset <= last {
		return decision{write: writeNothing, redelivered: true}, nil
	}
	next, ch, err := advanceGen(cur, ob)
	if err != nil {
		return decision{}, err
	}
	if cur.exists && !ch && rec.Offset < 0 {
		return decision{write: writeNothing}, nil // nothing new and no offset to remember
	}
	d := decision{next: next}
	switch {
	case !cur.exists:
		d.write = writeInsert
	case ch:
		d.write = writeState
	default:
		d.write = writeOffsets
	}
	if rec.Offset >= 0 {
		offsets[key] = rec.Offset
	}
	if d.offsets, err = json.Marshal(offsets); err != nil {
		return decision{}, fmt.Errorf("encode offsets: %w", err)
	}
	if next.video != nil {
		if d.uploaded, err = json.Marshal(contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: *next.video}); err != nil {
			return decision{}, fmt.Errorf("encode uploaded document: %w", err)
		}
	}
	if next.ready != nil {
		if d.ready, err = json.Marshal(next.ready); err != nil {
			return decision{}, fmt.Errorf("encode ready document: %w", err)
		}
	}
	if next.progress != nil {
		if d.progress, err = json.Marshal(next.progress); err != nil {
			return decision{}, fmt.Errorf("encode progress: %w", err)
		}
	}
	if next.reproc != nil {
		if d.reproc, err = json.Marshal(next.reproc); err != nil {
			return decision{}, fmt.Errorf("encode reprocessing: %w", err)
		}
	}
	return d, nil
}

// write runs d's statement for video id in tx. When the state changed
// (insert or state update) it notifies vidpipe_video_status and reads the
// new state back (changed=true). retry is true when an insert lost the race
// with another replica's: the caller rolls back and reads that row.
func (s *Store) write(ctx context.Context, tx pgx.Tx, id string, d decision) (st State, changed, retry bool, err error) {
	next := d.next
	switch d.write {
	case writeInsert:
		tag, err := tx.Exec(ctx, `INSERT INTO video_status (id, owner, status, stage_rank, failed_stage, reason,
			error_class, attempts, uploaded, ready, last_offsets, error_code, failed_item, hls_master_key, progress,
			generation, reprocessing)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (id) DO NOTHING`,
			id, next.owner, string(next.status(s.pipe)), next.rank, string(next.failedStage), next.reason,
			next.errorClass, next.attempts, d.uploaded, d.ready, d.offsets, next.errorCode, next.failedItem, next.hlsKey, d.progress,
			next.generation, d.reproc)
		if err != nil {
			return State{}, false, false, fmt.Errorf("insert video %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return State{}, false, true, nil
		}
	case writeState:
		if _, err := tx.Exec(ctx, `UPDATE video_status SET status = $2, stage_rank = $3, failed_stage = $4,
			reason = $5, error_class = $6, attempts = $7, uploaded = $8, ready = $9, last_offsets = $10,
			error_code = $11, failed_item = $12, hls_master_key = $13, progress = $14, generation = $15, reprocessing = $16,
			version = version + 1, updated_at = clock_timestamp() WHERE id = $1`,
			id, string(next.status(s.pipe)), next.rank, string(next.failedStage), next.reason,
			next.errorClass, next.attempts, d.uploaded, d.ready, d.offsets, next.errorCode, next.failedItem, next.hlsKey, d.progress,
			next.generation, d.reproc); err != nil {
			return State{}, false, false, fmt.Errorf("update video %s: %w", id, err)
		}
	case writeOffsets:
		if _, err := tx.Exec(ctx, `UPDATE video_status SET last_offsets = $2 WHERE id = $1`, id, d.offsets); err != nil {
			return State{}, false, false, fmt.Errorf("update offsets of video %s: %w", id, err)
		}
		return State{}, false, false, nil
	default:
		return State{}, false, false, nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, id); err != nil {
		return State{}, false, false, fmt.Errorf("notify change of %s: %w", id, err)
	}
	st, err = scanState(tx.QueryRow(ctx, selectState+` WHERE id = $1`, id), s.pipe)
	if err != nil {
		return State{}, false, false, fmt.Errorf("read back video %s: %w", id, err)
	}
	return st, true, false, nil
}

// errRollback makes pgx.BeginFunc roll back without reporting a failure.
var errRollback = errors.New("rollback")
