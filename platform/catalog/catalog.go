// Package catalog is the vidpipe video catalog in PostgreSQL: the schema
// (embedded migrations, see [Migrate]), the idempotent upsert the indexer
// performs ([Catalog.Upsert]) and the reads the API makes ([Catalog.Get],
// [Catalog.Search]).
//
// The indexer owns the "videos" table: it applies the migrations and is
// its only writer. The package lives in platform so that the schema and
// the queries on it are in one place that both the indexer and upload-api
// import, without one service importing the other. Each row keeps the full
// video.ready document as published, so a read returns exactly what the
// pipeline said.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
)

// ErrNotFound is returned by Get when no video has that id for that owner.
var ErrNotFound = errors.New("video not found")

// Catalog reads and writes the videos table. It is safe for concurrent use.
type Catalog struct {
	pool *pgxpool.Pool
}

// New returns a Catalog on pool. The caller keeps ownership of the pool.
func New(pool *pgxpool.Pool) *Catalog { return &Catalog{pool: pool} }

// Connect returns a pool for cfg (pool size cfg.MaxConns). It does not
// wait for the database: connections are made on first use, so a process
// can start while PostgreSQL is still down. Close the pool when done.
func Connect(ctx context.Context, cfg config.Postgres) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The URL may hold a password: do not echo it.
		return nil, errors.New("postgres: cannot parse url")
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = int32(cfg.MaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return pool, nil
}

// Pool returns the underlying pool.
func (c *Catalog) Pool() *pgxpool.Pool { return c.pool }

// Ping checks that the database answers (a readiness check).
func (c *Catalog) Ping(ctx context.Context) error {
	if err := c.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres ping: %w", err)
	}
	return nil
}

// upsertSQL inserts a video or, when its id exists, replaces the row with
// the new document except for ready_at: the stored ready_at (the first time
// the video became ready) is kept, in its column and inside the document.
// The WHERE clause makes a replay a no-op (no write, no updated_at change,
// no row returned): a document equal to the stored one once the processing
// timestamps (transcoded_at, thumbnailed_at, ready_at) are left out. Such a
// document is the same video made again after an at-least-once redelivery
// (a stage re-ran after a crash, a rebalance or a broker outage), so the
// stored document, with its first timestamps, stays the published one.
// A document of an older output generation (contract.Video.Generation)
// than the stored one is not written either: a late event of a superseded
// generation never replaces the newer outputs (the stored one is returned).
const upsertSQL = `
INSERT INTO videos AS v (
	id, owner, title, description, tags, duration_seconds, width, height,
	format, video_codec, audio_codec, renditions, hls_master_key, thumbnails,
	uploaded_at, transcoded_at, thumbnailed_at, ready_at, updated_at, document)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, now(), $19)
ON CONFLICT (id) DO UPDATE SET
	owner = EXCLUDED.owner,
	title = EXCLUDED.title,
	description = EXCLUDED.description,
	tags = EXCLUDED.tags,
	duration_seconds = EXCLUDED.duration_seconds,
	width = EXCLUDED.width,
	height = EXCLUDED.height,
	format = EXCLUDED.format,
	video_codec = EXCLUDED.video_codec,
	audio_codec = EXCLUDED.audio_codec,
	renditions = EXCLUDED.renditions,
	hls_master_key = EXCLUDED.hls_master_key,
	thumbnails = EXCLUDED.thumbnails,
	uploaded_at = EXCLUDED.uploaded_at,
	transcoded_at = EXCLUDED.transcoded_at,
	thumbnailed_at = EXCLUDED.thumbnailed_at,
	ready_at = v.ready_at,
	updated_at = now(),
	document = jsonb_set(EXCLUDED.document, '{ready_at}', coalesce(v.document->'ready_at', EXCLUDED.document->'ready_at'))
WHERE v.document - '{transcoded_at,thumbnailed_at,ready_at}'::text[] IS DISTINCT FROM
	EXCLUDED.document - '{transcoded_at,thumbnailed_at,ready_at}'::text[]
	AND coalesce((v.document->>'generation')::int, 0) <= coalesce((EXCLUDED.document->>'generation')::int, 0)
RETURNING v.document`

// Upsert stores doc as the catalog entry of doc.VideoID and returns the
// document as stored, which is what the indexer publishes.
//
// It is idempotent: doc.ReadyAt is used only when the video is new; a
// video already in the catalog keeps its ready_at, and when the document is
// unchanged but for its processing timestamps (transcoded_at,
// thumbnailed_at, ready_at: a replayed event, or one an upstream stage made
// again after a redelivery) nothing is written and changed is false. Either
// way the returned document is the stored one, so a replay republishes
// exactly the same document.
//
// A video deleted by its owner ([Catalog.Delete]) is not stored: the error
// matches [ErrDeleted]. The newest metadata edit of the video
// ([Catalog.Edit]), if any, replaces doc's title, description and tags.
//
// A doc that fails Validate, or that the database rejects as invalid data,
// returns an error matching [IsInvalid]; other errors (database down,
// timeouts) are transient.
func (c *Catalog) Upsert(ctx context.Context, doc contract.VideoReady) (stored contract.VideoReady, changed bool, err error) {
	if err := doc.Validate(); err != nil {
		return stored, false, fmt.Errorf("upsert %s: %w", doc.VideoID, err)
	}
	document, err := json.Marshal(doc)
	if err != nil {
		return stored, false, fmt.Errorf("upsert %s: encode document: %w", doc.VideoID, err)
	}
	renditions, err := json.Marshal(doc.Renditions)
	if err != nil {
		return stored, false, fmt.Errorf("upsert %s: encode renditions: %w", doc.VideoID, err)
	}
	thumbs, err := json.Marshal(doc.Thumbnails)
	if err != nil {
		return stored, false, fmt.Errorf("upsert %s: encode thumbnails: %w", doc.VideoID, err)
	}
	tags := doc.Tags
	if tags == nil {
		tags = []string{}
	}
	m := doc.Media
	var raw []byte
	// The lifecycle fence (lifecycle.go): under the video's lock, a
	// deleted video is not stored, and the newest edit wins over the
	// document's metadata.
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return stored, false, fmt.Errorf("upsert %s: %w", doc.VideoID, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	edited, err := fenceUpsert(ctx, tx, &doc)
	if err != nil {
		return stored, false, fmt.Errorf("upsert %s: %w", doc.VideoID, err)
	}
	if edited {
		tags = doc.Tags
		if tags == nil {
			tags = []string{}
		}
		if document, err = json.Marshal(doc); err != nil {
			return stored, false, fmt.Errorf("upsert %s: encode document: %w", doc.VideoID, err)
		}
	}
	err = tx.QueryRow(ctx, upsertSQL,
		doc.VideoID, doc.Owner, doc.Title, doc.Description, tags, m.DurationSeconds, m.Width, m.Height,
		m.Format, m.VideoCodec, m.AudioCodec, renditions, doc.HLS.MasterKey, thumbs,
		doc.UploadedAt, doc.TranscodedAt, doc.ThumbnailedAt, doc.ReadyAt, document,
	).Scan(&raw)
	if err == nil || errors.Is(err, pgx.ErrNoRows) {
		if cerr := tx.Commit(ctx); cerr != nil {
			return stored, false, fmt.Errorf("upsert %s: commit: %w", doc.VideoID, cerr)
		}
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Unchanged: the stored row already holds this document.
		stored, err = c.get(ctx, "SELECT document FROM videos WHERE id = $1", doc.VideoID)
		if err != nil {
			return stored, false, fmt.Errorf("upsert %s: read back: %w", doc.VideoID, err)
		}
		return stored, false, nil
	case err != nil:
		return stored, false, fmt.Errorf("upsert %s: %w", doc.VideoID, err)
	}
	if err := json.Unmarshal(raw, &stored); err != nil {
		return stored, false, fmt.Errorf("upsert %s: decode stored document: %w", doc.VideoID, err)
	}
	return stored, true, nil
}

// Get returns the ready document of video id if it belongs to owner. An
// unknown id, a malformed id and another owner's video all return
// ErrNotFound, so a caller cannot probe for other users' ids.
func (c *Catalog) Get(ctx context.Context, owner, id string) (contract.VideoReady, error) {
	if owner == "" || !contract.IsUUID(id) {
		return contract.VideoReady{}, ErrNotFound
	}
	doc, err := c.get(ctx, "SELECT document FROM videos WHERE id = $1 AND owner = $2", id, owner)
	if err != nil {
		return doc, fmt.Errorf("get %s: %w", id, err)
	}
	return doc, nil
}

func (c *Catalog) get(ctx context.Context, query string, args ...any) (contract.VideoReady, error) {
	var (
		raw []byte
		doc contract.VideoReady
	)
	if err := c.pool.QueryRow(ctx, query, args...).Scan(&raw); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return doc, ErrNotFound
		}
		return doc, err
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return doc, fmt.Errorf("decode document: %w", err)
	}
	return doc, nil
}
