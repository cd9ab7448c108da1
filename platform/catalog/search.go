package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vidpipe/vidpipe/contract"
)

// Search limits.
const (
	// DefaultLimit is the page size when Search is given limit <= 0.
	DefaultLimit = 20
	// MaxLimit caps the page size.
	MaxLimit = 100
	// MaxQueryLen bounds the query text in bytes.
	MaxQueryLen = 512
)

// ErrInvalidQuery is returned by Search for an empty owner or an over-long query.
var ErrInvalidQuery = errors.New("invalid search query")

// Result is one search hit.
type Result struct {
	// Document is the video's ready document.
	Document contract.VideoReady
	// Rank is ts_rank_cd of the match (higher is better); 0 when listing.
	// A match in caption cues adds a tenth of the best cue's rank.
	Rank float32
	// CaptionHits are the video's caption cues that match the query (at
	// most MaxCaptionHits, by start); none when listing.
	CaptionHits []CaptionHit
}

// The text search configuration; it must match the one in the generated
// "search" column (migrations/0001_videos.sql).
//
// A video matches by its own vector or by the text of one of its caption
// cues (caption_cues, migration 0003); its rank is the rank of its own
// vector plus a tenth of its best cue's.
const searchSQL = `
WITH q AS (SELECT websearch_to_tsquery('english', $2) AS q),
cues AS (
	SELECT c.video_id, max(ts_rank_cd(c.search, q.q)) AS rank
	FROM caption_cues c, q
	WHERE c.owner = $1 AND c.search @@ q.q
	GROUP BY c.video_id
),
hits AS (
	SELECT v.id, v.document,
		((CASE WHEN v.search @@ q.q THEN ts_rank_cd(v.search, q.q) ELSE 0 END) + coalesce(cues.rank, 0) / 10)::real AS rank
	FROM videos v CROSS JOIN q LEFT JOIN cues ON cues.video_id = v.id
	WHERE v.owner = $1 AND (v.search @@ q.q OR cues.video_id IS NOT NULL)
)
SELECT document, rank FROM hits
WHERE $3::boolean OR (rank, id) < ($4::real, $5::uuid)
ORDER BY rank DESC, id DESC
LIMIT $6`

const listSQL = `
SELECT v.document, v.ready_at
FROM videos v
WHERE v.owner = $1
  AND ($2::boolean OR (v.ready_at, v.id) < ($3::timestamptz, $4::uuid))
ORDER BY v.ready_at DESC, v.id DESC
LIMIT $5`

// Search returns owner's videos matching q, best first, one page at a time.
//
// q uses web search syntax (websearch_to_tsquery, 'english' configuration):
// words are ANDed, "quoted phrases" match in order, "or" alternates and a
// leading "-" excludes a word. Matches in the title rank above matches in
// tags, which rank above matches in the description (ts_rank_cd), which
// rank above matches in caption cues only (Result.CaptionHits names the
// matching cues, with their start). A blank q
// lists owner's videos, most recently ready first.
//
// limit <= 0 means DefaultLimit; it is capped at MaxLimit. Pass the
// returned next cursor to get the following page ("" for the first page);
// next is "" after the last page. Pagination is by keyset (the last
// result's sort key and id), so pages never repeat or skip a video that
// did not change in between. A cursor is bound to its owner and query;
// any other use returns ErrInvalidCursor. Only owner's videos are ever
// returned.
func (c *Catalog) Search(ctx context.Context, owner, q string, limit int, after string) (results []Result, next string, err error) {
	if owner == "" {
		return nil, "", fmt.Errorf("%w: owner is required", ErrInvalidQuery)
	}
	if len(q) > MaxQueryLen {
		return nil, "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidQuery, MaxQueryLen)
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	q = strings.TrimSpace(q)
	listing := q == ""
	fp := fingerprint(owner, q)
	first := after == ""
	var cur cursor
	if !first {
		if cur, err = decodeCursor(after, fp, listing); err != nil {
			return nil, "", err
		}
	}

	// One row more than the page tells whether there is a next page.
	var rows pgx.Rows
	if listing {
		rows, err = c.pool.Query(ctx, listSQL, owner, first, cur.readyAt, nilIfEmpty(cur.id), limit+1)
	} else {
		rows, err = c.pool.Query(ctx, searchSQL, owner, q, first, cur.rank, nilIfEmpty(cur.id), limit+1)
	}
	if err != nil {
		return nil, "", fmt.Errorf("search: %w", err)
	}
	var (
		raw     []byte
		rank    float32
		readyAt time.Time
	)
	dest := []any{&raw, &rank}
	if listing {
		dest = []any{&raw, &readyAt}
	}
	var last cursor
	_, err = pgx.ForEachRow(rows, dest, func() error {
		if len(results) == limit {
			next = last.encode(listing)
			return nil
		}
		var r Result
		if err := json.Unmarshal(raw, &r.Document); err != nil {
			return fmt.Errorf("decode document: %w", err)
		}
		r.Rank = rank
		results = append(results, r)
		last = cursor{query: fp, rank: rank, readyAt: readyAt, id: r.Document.VideoID}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("search: %w", err)
	}
	if !listing && len(results) > 0 {
		ids := make([]string, len(results))
		for i, r := range results {
			ids[i] = r.Document.VideoID
		}
		hits, err := c.captionHits(ctx, owner, q, ids)
		if err != nil {
			return nil, "", fmt.Errorf("search: %w", err)
		}
		for i := range results {
			results[i].CaptionHits = hits[results[i].Document.VideoID]
		}
	}
	return results, next, nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
