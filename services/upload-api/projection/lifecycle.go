package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vidpipe/vidpipe/contract"
)

// The lifecycle of a video (migration 0006): the API writes these two
// columns itself, at the owner's request, in the same table the consumer
// projects into (it is the table's owner):
//
//   - MarkDeleted sets deleted_at: the row stays as a tombstone, Get
//     answers ErrNotFound, Apply drops every later record of the video,
//     the quota no longer counts its source, subscribers get the deleted
//     state (their streams end);
//   - Edit sets edit, the newest metadata; the state shows it over the
//     metadata the pipeline events carry, which never change it.

// Edit is a metadata edit: the new title, description and tags.
type Edit struct {
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Tags        []string  `json:"tags"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// applyEdit shows the stored edit (JSON, nil for none) in st.
func (st *State) applyEdit(raw []byte) error {
	if raw == nil {
		return nil
	}
	var e Edit
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("decode stored edit: %w", err)
	}
	st.Edited = e.UpdatedAt.UTC()
	if len(e.Tags) == 0 {
		e.Tags = nil
	}
	if st.Uploaded != nil {
		st.Uploaded.Title, st.Uploaded.Description, st.Uploaded.Tags = e.Title, e.Description, e.Tags
	}
	if st.Ready != nil {
		st.Ready.Title, st.Ready.Description, st.Ready.Tags = e.Title, e.Description, e.Tags
	}
	return nil
}

// MarkDeleted records that owner deleted video id at time at, and returns
// the deleted state. The video's row stays as a tombstone (see the
// package's lifecycle); a video the projection has no row for yet (an
// unfinished tus upload, or an upload whose video.uploaded was not read
// yet) gets one, owned by owner, so that its events are dropped when they
// come. The video's quota reservation is removed in the same transaction.
// It is idempotent: marking a deleted video again keeps the first time
// and changes nothing. A video of another owner returns ErrNotFound.
func (s *Store) MarkDeleted(ctx context.Context, owner, id string, at time.Time) (State, error) {
	if !contract.IsUUID(id) || owner == "" {
		return State{}, ErrNotFound
	}
	var (
		st      State
		changed bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The per-owner quota lock orders this with Reserve.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, quotaLockSeed+owner); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO video_status (id, owner, status, stage_rank, deleted_at)
			VALUES ($1, $2, 'deleted', 0, $3) ON CONFLICT (id) DO NOTHING`, id, owner, at)
		if err != nil {
			return fmt.Errorf("insert tombstone: %w", err)
		}
		changed = tag.RowsAffected() == 1
		if !changed {
			var rowOwner string
			var deleted bool
			if err := tx.QueryRow(ctx, `SELECT owner, deleted_at IS NOT NULL FROM video_status WHERE id = $1 FOR UPDATE`, id).
				Scan(&rowOwner, &deleted); err != nil {
				return fmt.Errorf("read: %w", err)
			}
			if rowOwner != owner {
				return ErrNotFound
			}
			if !deleted {
				if _, err := tx.Exec(ctx, `UPDATE video_status SET deleted_at = $2, progress = NULL,
					version = version + 1, updated_at = clock_timestamp() WHERE id = $1`, id, at); err != nil {
					return fmt.Errorf("mark deleted: %w", err)
				}
				changed = true
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM upload_reservations WHERE video_id = $1`, id); err != nil {
			return fmt.Errorf("release reservation: %w", err)
		}
		if changed {
			if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, id); err != nil {
				return fmt.Errorf("notify: %w", err)
			}
		}
		st, err = scanState(tx.QueryRow(ctx, selectState+` WHERE id = $1`, id), s.pipe)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return State{}, err
	}
	if err != nil {
		return State{}, fmt.Errorf("projection store: delete %s: %w", id, err)
	}
	if changed {
		s.hub.publish(st)
	}
	return st, nil
}

// Edit records e as the metadata of owner's video id and returns the new
// state, which shows it (Uploaded and Ready carry the new title,
// description and tags; Edited is e.UpdatedAt). An edit older than the
// one recorded (by UpdatedAt) changes nothing. A missing, deleted or
// other owner's video returns ErrNotFound; so does one the projection
// knows only from an undecodable dead letter (nothing to edit).
func (s *Store) Edit(ctx context.Context, owner, id string, e Edit) (State, error) {
	if !contract.IsUUID(id) || owner == "" {
		return State{}, ErrNotFound
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return State{}, fmt.Errorf("projection store: edit %s: %w", id, err)
	}
	var (
		st      State
		changed bool
	)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			rowOwner    string
			deleted     bool
			hasUploaded bool
			prev        *time.Time
		)
		err := tx.QueryRow(ctx, `SELECT owner, deleted_at IS NOT NULL, uploaded IS NOT NULL, (edit->>'updated_at')::timestamptz
			FROM video_status WHERE id = $1 FOR UPDATE`, id).Scan(&rowOwner, &deleted, &hasUploaded, &prev)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && (rowOwner != owner || deleted || !hasUploaded)) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if prev == nil || prev.Before(e.UpdatedAt) {
			if _, err := tx.Exec(ctx, `UPDATE video_status SET edit = $2, version = version + 1,
				updated_at = clock_timestamp() WHERE id = $1`, id, raw); err != nil {
				return fmt.Errorf("write edit: %w", err)
			}
			if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, id); err != nil {
				return fmt.Errorf("notify: %w", err)
			}
			changed = true
		}
		st, err = scanState(tx.QueryRow(ctx, selectState+` WHERE id = $1`, id), s.pipe)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return State{}, err
	}
	if err != nil {
		return State{}, fmt.Errorf("projection store: edit %s: %w", id, err)
	}
	if changed {
		s.hub.publish(st)
	}
	return st, nil
}

// Owner returns the owner of video id as the projection knows it, and
// whether the video is deleted; ErrNotFound when it has no row.
func (s *Store) Owner(ctx context.Context, id string) (owner string, deleted bool, err error) {
	if !contract.IsUUID(id) {
		return "", false, ErrNotFound
	}
	err = s.pool.QueryRow(ctx, `SELECT owner, deleted_at IS NOT NULL FROM video_status WHERE id = $1`, id).Scan(&owner, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, ErrNotFound
	}
	if err != nil {
		return "", false, fmt.Errorf("projection store: owner of %s: %w", id, err)
	}
	return owner, deleted, nil
}

// ReservationOwner returns the owner of the quota reservation of video id
// (an upload in progress, or finished and not projected yet);
// ErrNotFound when there is none.
func (s *Store) ReservationOwner(ctx context.Context, id string) (string, error) {
	if !contract.IsUUID(id) {
		return "", ErrNotFound
	}
	var owner string
	err := s.pool.QueryRow(ctx, `SELECT owner FROM upload_reservations WHERE video_id = $1`, id).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("projection store: reservation of %s: %w", id, err)
	}
	return owner, nil
}

// DeletedAmong returns which of ids are deleted videos (search leaves them
// out: the catalog forgets a deleted video only once the indexer has
// consumed video.deleted).
func (s *Store) DeletedAmong(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id::text FROM video_status WHERE id::text = ANY($1) AND deleted_at IS NOT NULL`, ids)
	if err != nil {
		return nil, fmt.Errorf("projection store: deleted among %d ids: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("projection store: deleted among: %w", err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projection store: deleted among: %w", err)
	}
	return out, nil
}

// Patch edits owner's video id like Edit, computing the edit from the
// current metadata under the row's lock, so that concurrent edits of one
// video apply one after the other and none is lost: merge receives the
// video as the owner sees it now (with the newest edit) and returns the
// new metadata (its title, description and tags are recorded; an error
// from merge is returned as is and changes nothing). The edit's UpdatedAt
// is at, or just after the previous edit's when at is not later. It
// returns the new state and the merged video (for video.updated, with
// its UpdatedAt in State.Edited). A missing, deleted or other owner's
// video returns ErrNotFound.
func (s *Store) Patch(ctx context.Context, owner, id string, at time.Time, merge func(contract.Video) (contract.Video, error)) (State, contract.Video, error) {
	if !contract.IsUUID(id) || owner == "" {
		return State{}, contract.Video{}, ErrNotFound
	}
	var (
		st       State
		merged   contract.Video
		mergeErr error
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := scanState(tx.QueryRow(ctx, selectState+` WHERE id = $1 FOR UPDATE`, id), s.pipe)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if cur.Owner != owner || cur.Deleted || cur.Uploaded == nil {
			return ErrNotFound
		}
		if merged, mergeErr = merge(cur.Uploaded.Video); mergeErr != nil {
			return mergeErr
		}
		at = at.UTC().Truncate(time.Microsecond) // PostgreSQL keeps microseconds
		if !at.After(cur.Edited) {
			at = cur.Edited.Add(time.Microsecond)
		}
		raw, err := json.Marshal(Edit{Title: merged.Title, Description: merged.Description, Tags: merged.Tags, UpdatedAt: at})
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE video_status SET edit = $2, version = version + 1,
			updated_at = clock_timestamp() WHERE id = $1`, id, raw); err != nil {
			return fmt.Errorf("write edit: %w", err)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, id); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		st, err = scanState(tx.QueryRow(ctx, selectState+` WHERE id = $1`, id), s.pipe)
		return err
	})
	switch {
	case mergeErr != nil:
		return State{}, contract.Video{}, mergeErr
	case errors.Is(err, ErrNotFound):
		return State{}, contract.Video{}, err
	case err != nil:
		return State{}, contract.Video{}, fmt.Errorf("projection store: patch %s: %w", id, err)
	}
	s.hub.publish(st)
	return st, st.Uploaded.Video, nil
}
