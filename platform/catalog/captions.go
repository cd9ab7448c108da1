package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/vidpipe/vidpipe/contract"
)

// Caption cues (migration 0003): the indexer's consumer of video.captions
// (group indexer-lifecycle) calls PutCaptions; Search matches cue text and
// returns the matching cues (Result.CaptionHits); Delete removes a video's
// cues with the rest of it.

// MaxCaptionHits bounds the caption hits Search returns per video.
const MaxCaptionHits = 5

// CaptionHit is a caption cue whose text matches a search query.
type CaptionHit struct {
	Language string
	// StartMS is when the cue starts, in milliseconds from the start of the video.
	StartMS int64
	Text    string
}

// PutCaptions applies ev to the catalog: the cues of track ev.Language of
// video ev.VideoID become ev.Cues (none when ev.Deleted), unless a newer
// or equal change of that track (by UpdatedAt) was applied already; it
// reports whether ev was applied. A deleted video returns ErrDeleted.
// It takes the video's lock, like Upsert, Edit and Delete.
func (c *Catalog) PutCaptions(ctx context.Context, ev contract.VideoCaptions) (applied bool, err error) {
	if err := ev.Validate(); err != nil {
		return false, fmt.Errorf("catalog: captions of %s: %w", ev.VideoID, err)
	}
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if err := lockVideo(ctx, tx, ev.VideoID); err != nil {
			return err
		}
		var deleted bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_videos WHERE id = $1)`, ev.VideoID).Scan(&deleted); err != nil {
			return err
		}
		if deleted {
			return ErrDeleted
		}
		tag, err := tx.Exec(ctx, `INSERT INTO caption_tracks AS t (video_id, language, owner, label, deleted, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (video_id, language) DO UPDATE SET owner = EXCLUDED.owner, label = EXCLUDED.label,
				deleted = EXCLUDED.deleted, updated_at = EXCLUDED.updated_at
			WHERE t.updated_at < EXCLUDED.updated_at AND t.owner = EXCLUDED.owner`,
			ev.VideoID, ev.Language, ev.Owner, ev.Label, ev.Deleted, ev.UpdatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // a newer (or the same) change is applied
		}
		applied = true
		if _, err := tx.Exec(ctx, `DELETE FROM caption_cues WHERE video_id = $1 AND language = $2`, ev.VideoID, ev.Language); err != nil {
			return err
		}
		if len(ev.Cues) == 0 {
			return nil
		}
		rows := make([][]any, len(ev.Cues))
		for i, cue := range ev.Cues {
			rows[i] = []any{ev.VideoID, ev.Language, i, ev.Owner, cue.StartMS, cue.EndMS, cue.Text}
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"caption_cues"},
			[]string{"video_id", "language", "seq", "owner", "start_ms", "end_ms", "text"}, pgx.CopyFromRows(rows))
		return err
	})
	if errors.Is(err, ErrDeleted) {
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("catalog: captions %s of %s: %w", ev.Language, ev.VideoID, err)
	}
	return applied, nil
}

// captionHitsSQL returns, for the videos $2 of owner $1, their cues
// matching query $3 (web search syntax, 'english'), the first
// MaxCaptionHits of each video by start.
const captionHitsSQL = `
SELECT video_id::text, language, start_ms, text FROM (
	SELECT c.video_id, c.language, c.start_ms, c.text,
		row_number() OVER (PARTITION BY c.video_id ORDER BY c.start_ms, c.language, c.seq) AS n
	FROM caption_cues c, websearch_to_tsquery('english', $3) AS q
	WHERE c.owner = $1 AND c.video_id = ANY($2::uuid[]) AND c.search @@ q
) hits
WHERE n <= $4
ORDER BY video_id, start_ms, language`

// captionHits returns the caption hits of query q in the videos ids of owner.
func (c *Catalog) captionHits(ctx context.Context, owner, q string, ids []string) (map[string][]CaptionHit, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := c.pool.Query(ctx, captionHitsSQL, owner, ids, q, MaxCaptionHits)
	if err != nil {
		return nil, fmt.Errorf("caption hits: %w", err)
	}
	out := map[string][]CaptionHit{}
	var (
		id string
		h  CaptionHit
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &h.Language, &h.StartMS, &h.Text}, func() error {
		out[id] = append(out[id], h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("caption hits: %w", err)
	}
	return out, nil
}
