package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/config"
)

func TestMain(m *testing.M) { harness.Main(m) }

// MustPool returns a pool on a fresh database of the shared PostgreSQL
// server, closed at cleanup. The schema is not migrated.
func MustPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := harness.MustDatabase(tb, harness.SharedPostgres(tb))
	pool, err := catalog.Connect(context.Background(), config.Postgres{URL: url, MaxConns: 8})
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// MustCatalog returns a Catalog on a fresh, migrated database.
func MustCatalog(tb testing.TB) *catalog.Catalog {
	tb.Helper()
	pool := MustPool(tb)
	if _, err := catalog.Migrate(context.Background(), pool); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return catalog.New(pool)
}

// MustUpsert stores doc and returns the stored document.
func MustUpsert(tb testing.TB, c *catalog.Catalog, doc contract.VideoReady) contract.VideoReady {
	tb.Helper()
	stored, _, err := c.Upsert(context.Background(), doc)
	if err != nil {
		tb.Fatalf("upsert %q: %v", doc.Title, err)
	}
	return stored
}

// newDoc returns a valid ready document.
func newDoc(owner, title, description string, tags ...string) contract.VideoReady {
	id := contract.NewID()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return contract.VideoReady{
		SchemaVersion: contract.SchemaVersion,
		Video: contract.Video{
			VideoID: id, Owner: owner, Title: title, Description: description, Tags: tags,
			Source: contract.SourceObject{Bucket: "vidpipe", Key: contract.SourceKey(id), Size: 1234,
				ContentType: "video/mp4", Filename: "clip.mp4"},
			UploadedAt: t0,
		},
		Media: contract.Media{DurationSeconds: 12.48, Width: 1920, Height: 1080, Format: "mov,mp4,m4a,3gp,3g2,mj2",
			VideoCodec: "h264", AudioCodec: "aac", FrameRate: 29.97, Bitrate: 4_000_000},
		Renditions: []contract.Rendition{
			{Name: "360p", Width: 640, Height: 360, Bitrate: 800_000, Key: contract.RenditionKey(id, "360p"), Size: 100,
				PlaylistKey: contract.HLSPrefix(id) + "360p/index.m3u8"},
			{Name: "1080p", Width: 1920, Height: 1080, Bitrate: 5_000_000, Key: contract.RenditionKey(id, "1080p"), Size: 900},
		},
		HLS: contract.HLS{MasterKey: contract.HLSMasterKey(id)},
		Thumbnails: contract.Thumbnails{
			Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 640, Height: 360, Size: 20_000},
			Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "thumb.jpg", Width: 320, Height: 180, Size: 6_000},
		},
		TranscodedAt:  t0.Add(time.Minute),
		ThumbnailedAt: t0.Add(2 * time.Minute),
		ReadyAt:       t0.Add(3 * time.Minute),
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

type row struct {
	count     int
	readyAt   time.Time
	updatedAt time.Time
	title     string
}

func readRow(tb testing.TB, c *catalog.Catalog, id string) row {
	tb.Helper()
	var r row
	err := c.Pool().QueryRow(context.Background(),
		`SELECT count(*) OVER (), ready_at, updated_at, title FROM videos WHERE id = $1`, id).
		Scan(&r.count, &r.readyAt, &r.updatedAt, &r.title)
	if err != nil {
		tb.Fatalf("read row %s: %v", id, err)
	}
	return r
}

func TestUpsertIsIdempotent(t *testing.T) {
	ctx := context.Background()
	c := MustCatalog(t)
	doc := newDoc("alice", "Sunset", "a sunset", "sky")

	first, changed, err := c.Upsert(ctx, doc)
	if err != nil || !changed {
		t.Fatalf("first upsert: changed=%v err=%v", changed, err)
	}
	if mustJSON(t, first) != mustJSON(t, doc) {
		t.Fatalf("stored document differs from the input:\n got %s\nwant %s", mustJSON(t, first), mustJSON(t, doc))
	}
	before := readRow(t, c, doc.VideoID)

	// A replay builds the same document with a later ready_at.
	replay := doc
	replay.ReadyAt = doc.ReadyAt.Add(time.Hour)
	again, changed, err := c.Upsert(ctx, replay)
	if err != nil {
		t.Fatalf("replay upsert: %v", err)
	}
	if changed {
		t.Error("replay reported a change")
	}
	if mustJSON(t, again) != mustJSON(t, first) {
		t.Errorf("replay returned another document:\n got %s\nwant %s", mustJSON(t, again), mustJSON(t, first))
	}
	after := readRow(t, c, doc.VideoID)
	if after.count != 1 {
		t.Errorf("rows for the id = %d, want 1", after.count)
	}
	if !after.updatedAt.Equal(before.updatedAt) {
		t.Errorf("replay changed updated_at: %v -> %v", before.updatedAt, after.updatedAt)
	}
	if !after.readyAt.Equal(doc.ReadyAt) {
		t.Errorf("ready_at = %v, want the first %v", after.readyAt, doc.ReadyAt)
	}

	// A real change (the thumbnail stage re-ran) updates the row but keeps
	// the first ready_at, in the column and in the document.
	changedDoc := replay
	changedDoc.Title = "Sunset, remastered"
	changedDoc.ThumbnailedAt = doc.ThumbnailedAt.Add(time.Hour)
	updated, changed, err := c.Upsert(ctx, changedDoc)
	if err != nil || !changed {
		t.Fatalf("changed upsert: changed=%v err=%v", changed, err)
	}
	if !updated.ReadyAt.Equal(doc.ReadyAt) || updated.Title != changedDoc.Title {
		t.Errorf("after change: ready_at=%v title=%q, want ready_at=%v title=%q", updated.ReadyAt, updated.Title, doc.ReadyAt, changedDoc.Title)
	}
	final := readRow(t, c, doc.VideoID)
	if final.count != 1 || final.title != changedDoc.Title || !final.readyAt.Equal(doc.ReadyAt) {
		t.Errorf("row after change = %+v", final)
	}
	got, err := c.Get(ctx, "alice", doc.VideoID)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if mustJSON(t, got) != mustJSON(t, updated) {
		t.Errorf("Get differs from the upserted document:\n got %s\nwant %s", mustJSON(t, got), mustJSON(t, updated))
	}
}

func TestUpsertReprocessedKeepsFirstDocument(t *testing.T) {
	// After a redelivery, transcode and thumbnail may run again for the
	// same upload: the document is the same but for its processing
	// timestamps. The catalog keeps the first document and returns it, so
	// the duplicate video.ready carries the same content.
	ctx := context.Background()
	c := MustCatalog(t)
	doc := newDoc("alice", "Redelivered", "")
	first, _, err := c.Upsert(ctx, doc)
	if err != nil {
		t.Fatalf("first upsert: %v", err)
	}
	before := readRow(t, c, doc.VideoID)
	tests := map[string]func(*contract.VideoReady){
		"thumbnail re-ran": func(d *contract.VideoReady) {
			d.ThumbnailedAt = d.ThumbnailedAt.Add(time.Minute)
		},
		"transcode and thumbnail re-ran": func(d *contract.VideoReady) {
			d.TranscodedAt = d.TranscodedAt.Add(time.Minute)
			d.ThumbnailedAt = d.ThumbnailedAt.Add(2 * time.Minute)
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			again := doc
			again.ReadyAt = doc.ReadyAt.Add(time.Hour)
			mutate(&again)
			got, changed, err := c.Upsert(ctx, again)
			if err != nil {
				t.Fatalf("upsert: %v", err)
			}
			if changed {
				t.Error("re-processed document reported a change")
			}
			if mustJSON(t, got) != mustJSON(t, first) {
				t.Errorf("returned another document:\n got %s\nwant %s", mustJSON(t, got), mustJSON(t, first))
			}
			if after := readRow(t, c, doc.VideoID); after.count != 1 || !after.updatedAt.Equal(before.updatedAt) {
				t.Errorf("row after re-processing = %+v, want it untouched (%+v)", after, before)
			}
		})
	}

	// A re-run that changed the video (another rendition size) is a change;
	// it takes the new processing timestamps and keeps ready_at.
	changedDoc := doc
	changedDoc.Renditions = append([]contract.Rendition(nil), doc.Renditions...)
	changedDoc.Renditions[0].Size++
	changedDoc.TranscodedAt = doc.TranscodedAt.Add(time.Hour)
	changedDoc.ReadyAt = doc.ReadyAt.Add(time.Hour)
	got, changed, err := c.Upsert(ctx, changedDoc)
	if err != nil || !changed {
		t.Fatalf("changed upsert: changed=%v err=%v", changed, err)
	}
	if !got.TranscodedAt.Equal(changedDoc.TranscodedAt) || !got.ReadyAt.Equal(doc.ReadyAt) || got.Renditions[0].Size != changedDoc.Renditions[0].Size {
		t.Errorf("after a real change: transcoded_at=%v ready_at=%v size=%d, want %v, %v, %d", got.TranscodedAt, got.ReadyAt,
			got.Renditions[0].Size, changedDoc.TranscodedAt, doc.ReadyAt, changedDoc.Renditions[0].Size)
	}
}

func TestUpsertConcurrentReplays(t *testing.T) {
	// Two members may process the same record during a rebalance: every
	// upsert must return the same document and leave one row.
	ctx := context.Background()
	c := MustCatalog(t)
	doc := newDoc("alice", "Race", "")
	const n = 6
	results := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			d := doc
			d.ReadyAt = doc.ReadyAt.Add(time.Duration(i) * time.Second)
			stored, _, err := c.Upsert(ctx, d)
			errs <- err
			results <- mustJSONNoTB(stored)
		}()
	}
	var first string
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("upsert: %v", err)
		}
		got := <-results
		if first == "" {
			first = got
		} else if got != first {
			t.Errorf("concurrent upserts returned different documents:\n%s\n%s", first, got)
		}
	}
	if r := readRow(t, c, doc.VideoID); r.count != 1 {
		t.Errorf("rows = %d, want 1", r.count)
	}
}

func mustJSONNoTB(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestUpsertRejectsInvalidData(t *testing.T) {
	ctx := context.Background()
	c := MustCatalog(t)
	tests := map[string]func(*contract.VideoReady){
		// Caught by events validation before the database.
		"missing title": func(d *contract.VideoReady) { d.Title = "" },
		// Passes events validation (format is free text) but PostgreSQL
		// refuses NUL in text and jsonb: SQLSTATE class 22.
		"NUL byte in a text column": func(d *contract.VideoReady) { d.Media.Format = "mp4\x00evil" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			doc := newDoc("alice", "Valid", "")
			mutate(&doc)
			_, _, err := c.Upsert(ctx, doc)
			if err == nil {
				t.Fatal("upsert succeeded")
			}
			if !catalog.IsInvalid(err) {
				t.Errorf("IsInvalid(%v) = false, want true", err)
			}
			if _, err := c.Get(ctx, "alice", doc.VideoID); !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("rejected document is readable: err=%v", err)
			}
		})
	}
}

func TestUpsertDatabaseDownIsTransient(t *testing.T) {
	// Port 1 on loopback refuses connections.
	pool, err := catalog.Connect(context.Background(), config.Postgres{URL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c := catalog.New(pool)
	_, _, err = c.Upsert(context.Background(), newDoc("alice", "Down", ""))
	if err == nil {
		t.Fatal("upsert against a closed port succeeded")
	}
	if catalog.IsInvalid(err) {
		t.Errorf("IsInvalid(%v) = true, want false (transient)", err)
	}
	if err := c.Ping(context.Background()); err == nil {
		t.Error("Ping succeeded against a closed port")
	}
}

func TestGet(t *testing.T) {
	ctx := context.Background()
	c := MustCatalog(t)
	doc := MustUpsert(t, c, newDoc("alice", "Mine", ""))
	tests := map[string]struct {
		owner, id string
		found     bool
	}{
		"owner reads own video":      {"alice", doc.VideoID, true},
		"another owner":              {"bob", doc.VideoID, false},
		"empty owner":                {"", doc.VideoID, false},
		"unknown id":                 {"alice", contract.NewID(), false},
		"malformed id":               {"alice", "not-a-uuid'; DROP TABLE videos; --", false},
		"uppercase id is not stored": {"alice", "ABCDEF00-0000-4000-8000-000000000000", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := c.Get(ctx, tc.owner, tc.id)
			switch {
			case tc.found && err != nil:
				t.Fatalf("Get: %v", err)
			case tc.found && got.VideoID != doc.VideoID:
				t.Errorf("Get returned %s, want %s", got.VideoID, doc.VideoID)
			case !tc.found && !errors.Is(err, catalog.ErrNotFound):
				t.Errorf("Get err = %v, want ErrNotFound", err)
			}
		})
	}
}
