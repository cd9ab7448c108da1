package projection

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/vidpipe/vidpipe/contract"
)

// Library page sizes.
const (
	// DefaultLibraryLimit is the page size of List when limit <= 0.
	DefaultLibraryLimit = 20
	// MaxLibraryLimit caps the page size of List.
	MaxLibraryLimit = 100
)

// ErrInvalidCursor is returned by List for a cursor it did not make for
// the same listing (malformed, or made for another status filter).
var ErrInvalidCursor = errors.New("invalid library cursor")

// ErrInvalidStatus is returned by List for a status filter that is neither
// a step's status of the pipeline nor failed.
var ErrInvalidStatus = errors.New("invalid status filter")

// ListOptions select a page of List.
type ListOptions struct {
	// Limit is the page size: <= 0 means DefaultLibraryLimit; capped at
	// MaxLibraryLimit.
	Limit int
	// Cursor is the next cursor of the previous page; "" for the first.
	Cursor string
	// Status, when set, keeps only videos in that status (a step's status
	// of the pipeline, or "failed"). Default: every status.
	Status string
}

// libraryCursor is what a library cursor encodes: the last video of the
// page (its row gives the keyset position) and the status filter it was
// made for.
type libraryCursor struct {
	After  string `json:"a"`
	Status string `json:"s,omitempty"`
}

const libraryCursorPrefix = "lib1."

func (c libraryCursor) encode() string {
	b, _ := json.Marshal(c)
	return libraryCursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeLibraryCursor(s, status string) (libraryCursor, error) {
	raw, ok := strings.CutPrefix(s, libraryCursorPrefix)
	if !ok {
		return libraryCursor{}, ErrInvalidCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return libraryCursor{}, ErrInvalidCursor
	}
	var c libraryCursor
	if err := json.Unmarshal(b, &c); err != nil || !contract.IsUUID(c.After) || c.Status != status {
		return libraryCursor{}, ErrInvalidCursor
	}
	return c, nil
}

// librarySQL lists an owner's videos that are not deleted, newest first
// (created_at: when the projection first recorded the video, normally its
// video.uploaded; then id), after the cursor's video ($2 NULL: from the
// start), optionally of one status ($3 NULL: any). The keyset position of
// the cursor is read from its row, which stays (a deleted video keeps a
// tombstone), so a page never repeats or skips a video.
const librarySQL = selectState + ` AS v
WHERE v.owner = $1 AND v.deleted_at IS NULL
  AND ($3::text IS NULL OR v.status = $3)
  AND ($2::uuid IS NULL OR (v.created_at, v.id) < (SELECT c.created_at, c.id FROM video_status c WHERE c.id = $2 AND c.owner = $1))
ORDER BY v.created_at DESC, v.id DESC
LIMIT $4`

// List returns a page of owner's library: every video of owner that is
// not deleted, in any status (uploaded, playable, …, ready, failed),
// newest first (by when the projection first recorded it, then by id),
// and the cursor of the next page ("" after the last). Pagination is by
// keyset, so pages never repeat or skip a video, whatever changes in
// between (a video deleted meanwhile is simply not listed). A cursor is
// bound to its status filter (ErrInvalidCursor otherwise); a cursor of
// another owner lists nothing. opts.Status must be a status of the
// pipeline or "failed" (ErrInvalidStatus).
func (s *Store) List(ctx context.Context, owner string, opts ListOptions) ([]State, string, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultLibraryLimit
	}
	limit = min(limit, MaxLibraryLimit)
	var status, after any
	if opts.Status != "" {
		if opts.Status != string(StatusFailed) && !slices.Contains(s.pipe.Statuses(), opts.Status) {
			return nil, "", fmt.Errorf("%w: %q", ErrInvalidStatus, opts.Status)
		}
		status = opts.Status
	}
	if opts.Cursor != "" {
		c, err := decodeLibraryCursor(opts.Cursor, opts.Status)
		if err != nil {
			return nil, "", err
		}
		after = c.After
	}
	rows, err := s.pool.Query(ctx, librarySQL, owner, after, status, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("projection store: list %s's videos: %w", owner, err)
	}
	out := make([]State, 0, limit)
	next := ""
	for rows.Next() {
		if len(out) == limit {
			next = libraryCursor{After: out[len(out)-1].VideoID, Status: opts.Status}.encode()
			break
		}
		st, err := scanState(rows, s.pipe)
		if err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("projection store: list %s's videos: %w", owner, err)
		}
		out = append(out, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, "", fmt.Errorf("projection store: list %s's videos: %w", owner, err)
	}
	return out, next, nil
}
