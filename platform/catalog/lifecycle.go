package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vidpipe/vidpipe/contract"
)

// The lifecycle of a catalog entry (migration 0002): the indexer's
// consumers of video.deleted and video.updated (group indexer-lifecycle)
// call Delete and Edit; Upsert honours both. All three take a per-video
// advisory lock in their transaction, so that a delete or an edit and an
// upsert of the same video never interleave: an upsert that runs after a
// delete stores nothing, and one that runs after an edit stores the edit.

// ErrDeleted is returned by Upsert (and Edit) for a video its owner
// deleted.
var ErrDeleted = errors.New("video deleted")

// videoLockSeed prefixes the video id in the per-video advisory lock key.
const videoLockSeed = "vidpipe-catalog:"

// lockVideo takes the per-video advisory lock of id for tx's lifetime.
func lockVideo(ctx context.Context, tx pgx.Tx, id string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, videoLockSeed+id); err != nil {
		return fmt.Errorf("lock video %s: %w", id, err)
	}
	return nil
}

// fenceUpsert runs before the upsert of doc, in its transaction: it takes
// the video's lock, refuses a deleted video (ErrDeleted) and applies the
// video's newest edit to doc (edited = true when that changed doc).
func fenceUpsert(ctx context.Context, tx pgx.Tx, doc *contract.VideoReady) (edited bool, err error) {
	if err := lockVideo(ctx, tx, doc.VideoID); err != nil {
		return false, err
	}
	var deleted bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_videos WHERE id = $1)`, doc.VideoID).Scan(&deleted); err != nil {
		return false, fmt.Errorf("check deleted: %w", err)
	}
	if deleted {
		return false, ErrDeleted
	}
	var (
		title, description string
		tags               []string
	)
	err = tx.QueryRow(ctx, `SELECT title, description, tags FROM video_edits WHERE id = $1 AND owner = $2`,
		doc.VideoID, doc.Owner).Scan(&title, &description, &tags)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read edit: %w", err)
	}
	if len(tags) == 0 {
		tags = nil
	}
	doc.Title, doc.Description, doc.Tags = title, description, tags
	return true, nil
}

// Deleted reports whether video id was deleted (Delete ran for it).
func (c *Catalog) Deleted(ctx context.Context, id string) (bool, error) {
	var deleted bool
	if err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_videos WHERE id = $1)`, id).Scan(&deleted); err != nil {
		return false, fmt.Errorf("catalog: check deleted %s: %w", id, err)
	}
	return deleted, nil
}

// Delete removes video id from the catalog and records it as deleted, so
// that no later Upsert stores it again (owner and at are recorded; owner
// may be empty). It is idempotent: deleting again, or deleting a video
// that never reached the catalog, is no error.
func (c *Catalog) Delete(ctx context.Context, id, owner string, at time.Time) error {
	if !contract.IsUUID(id) {
		return fmt.Errorf("catalog: delete %q: not a video id", id)
	}
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if err := lockVideo(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO deleted_videos (id, owner, deleted_at) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING`, id, owner, at); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM videos WHERE id = $1`, id); err != nil {
			return err
		}
		// Caption cues (captions.go).
		if _, err := tx.Exec(ctx, `DELETE FROM caption_cues WHERE video_id = $1`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM caption_tracks WHERE video_id = $1`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM video_edits WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog: delete %s: %w", id, err)
	}
	return nil
}

// Edit records u as the metadata of video u.VideoID, unless a newer edit
// (by UpdatedAt) is recorded already, and applies it to the catalog entry
// if the video is there (title, description, tags, in the columns, the
// search vector and the document). A video that is not in the catalog yet
// gets the edit when it is upserted. It reports whether u was applied (false:
// an equal or newer edit was there, a replay). A deleted video returns
// ErrDeleted.
func (c *Catalog) Edit(ctx context.Context, u contract.VideoUpdated) (applied bool, err error) {
	if err := u.Validate(); err != nil {
		return false, fmt.Errorf("catalog: edit %s: %w", u.VideoID, err)
	}
	tags := u.Tags
	if tags == nil {
		tags = []string{}
	}
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if err := lockVideo(ctx, tx, u.VideoID); err != nil {
			return err
		}
		var deleted bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_videos WHERE id = $1)`, u.VideoID).Scan(&deleted); err != nil {
			return err
		}
		if deleted {
			return ErrDeleted
		}
		tag, err := tx.Exec(ctx, `INSERT INTO video_edits AS e (id, owner, title, description, tags, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description,
				tags = EXCLUDED.tags, updated_at = EXCLUDED.updated_at
			WHERE e.updated_at < EXCLUDED.updated_at AND e.owner = EXCLUDED.owner`,
			u.VideoID, u.Owner, u.Title, u.Description, tags, u.UpdatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // a newer (or the same) edit is recorded
		}
		applied = true
		var raw []byte
		err = tx.QueryRow(ctx, `SELECT document FROM videos WHERE id = $1 AND owner = $2 FOR UPDATE`, u.VideoID, u.Owner).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // not in the catalog yet: Upsert applies the edit
		}
		if err != nil {
			return err
		}
		var doc contract.VideoReady
		if err := json.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("decode stored document: %w", err)
		}
		doc.Title, doc.Description, doc.Tags = u.Title, u.Description, u.Tags
		document, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE videos SET title = $2, description = $3, tags = $4, document = $5, updated_at = now()
			WHERE id = $1`, u.VideoID, u.Title, u.Description, tags, document)
		return err
	})
	if errors.Is(err, ErrDeleted) {
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("catalog: edit %s: %w", u.VideoID, err)
	}
	return applied, nil
}
