package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vidpipe/vidpipe/contract"
)

// Caption is one caption track of a video (table video_captions): its
// WebVTT is at contract.CaptionKey(video id, Language).
type Caption struct {
	// Language is the track's canonical BCP 47 tag; one track per language.
	Language string
	// Label is the name a player shows ("English", "English (SDH)").
	Label string
	// Cues counts the track's cues.
	Cues int
	// Bytes is the size of the stored WebVTT.
	Bytes int64
	// End is the end of the track's last-ending cue.
	End time.Duration
	// UpdatedAt is when the track was last stored (database clock).
	UpdatedAt time.Time
}

// PutCaption records caption track c of owner's video id, replacing the
// track of the same language (replaced reports that one was there), and
// returns its UpdatedAt (database clock). It
// returns ErrNotFound when the video is not owner's or is deleted: the row
// of the video is locked (FOR SHARE) while the track is written, so a
// track is never recorded after the video's delete was (the delete's
// consumer removes every track recorded before it).
func (s *Store) PutCaption(ctx context.Context, owner, id string, c Caption) (updatedAt time.Time, replaced bool, err error) {
	if !contract.IsUUID(id) {
		return time.Time{}, false, ErrNotFound
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM video_status WHERE id = $1 AND owner = $2 AND deleted_at IS NULL FOR SHARE`, id, owner).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO video_captions (video_id, language, label, cues, bytes, end_ms)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (video_id, language) DO UPDATE SET label = EXCLUDED.label, cues = EXCLUDED.cues,
				bytes = EXCLUDED.bytes, end_ms = EXCLUDED.end_ms, updated_at = clock_timestamp()
			RETURNING xmax <> 0, updated_at`, id, c.Language, c.Label, c.Cues, c.Bytes, c.End.Milliseconds()).Scan(&replaced, &updatedAt)
	})
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, false, ErrNotFound
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("projection store: put caption %s of %s: %w", c.Language, id, err)
	}
	return updatedAt, replaced, nil
}

// Captions returns the caption tracks of video id, by language, whoever
// owns it (the caller checked access); none for an unknown id.
func (s *Store) Captions(ctx context.Context, id string) ([]Caption, error) {
	if !contract.IsUUID(id) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT language, label, cues, bytes, end_ms, updated_at FROM video_captions
		WHERE video_id = $1 ORDER BY language`, id)
	if err != nil {
		return nil, fmt.Errorf("projection store: captions of %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Caption, error) {
		var c Caption
		var endMS int64
		err := r.Scan(&c.Language, &c.Label, &c.Cues, &c.Bytes, &endMS, &c.UpdatedAt)
		c.End = time.Duration(endMS) * time.Millisecond
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("projection store: captions of %s: %w", id, err)
	}
	return out, nil
}

// DeleteCaption removes the caption track of language from owner's video
// id; ErrNotFound when the video is not owner's (or deleted) or has no
// such track. With announce set, it is called with the time of the
// removal (database clock, later than the track's UpdatedAt) while the
// track's row is locked, before the row is removed: when it fails,
// nothing is removed (so a DELETE sent again announces again).
func (s *Store) DeleteCaption(ctx context.Context, owner, id, language string, announce func(at time.Time) error) error {
	if !contract.IsUUID(id) {
		return ErrNotFound
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var at time.Time
		err := tx.QueryRow(ctx, `SELECT greatest(clock_timestamp(), c.updated_at + interval '1 microsecond')
			FROM video_captions c JOIN video_status v ON v.id = c.video_id
			WHERE c.video_id = $1 AND c.language = $2 AND v.owner = $3 AND v.deleted_at IS NULL
			FOR UPDATE OF c`, id, language, owner).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if announce != nil {
			if err := announce(at); err != nil {
				return &announceError{err}
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM video_captions WHERE video_id = $1 AND language = $2`, id, language)
		return err
	})
	var ae *announceError
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrNotFound
	case errors.As(err, &ae):
		return ae.err
	case err != nil:
		return fmt.Errorf("projection store: delete caption %s of %s: %w", language, id, err)
	}
	return nil
}

// announceError marks the error of DeleteCaption's announce, returned as is.
type announceError struct{ err error }

func (e *announceError) Error() string { return e.err.Error() }

// DeleteCaptions removes every caption track row of video id (when the
// video is deleted). Idempotent.
func (s *Store) DeleteCaptions(ctx context.Context, id string) error {
	if !contract.IsUUID(id) {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM video_captions WHERE video_id = $1`, id); err != nil {
		return fmt.Errorf("projection store: delete captions of %s: %w", id, err)
	}
	return nil
}
