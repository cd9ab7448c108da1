package indexer

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/stage"
)

func TestMain(m *testing.M) { harness.Main(m) }

// MustCatalog returns a catalog on a fresh, migrated database.
func MustCatalog(tb testing.TB) *catalog.Catalog {
	tb.Helper()
	url := harness.MustDatabase(tb, harness.SharedPostgres(tb))
	pool, err := catalog.Connect(context.Background(), config.Postgres{URL: url, MaxConns: 4})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	if _, err := catalog.Migrate(context.Background(), pool); err != nil {
		tb.Fatal(err)
	}
	return catalog.New(pool)
}

// thumbnailed returns a valid video.thumbnailed event.
func thumbnailed() contract.VideoThumbnailed {
	id := contract.NewID()
	t0 := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: "Birthday party", Description: "cake and candles", Tags: []string{"family"},
		Source:     contract.SourceObject{Bucket: "vidpipe", Key: contract.SourceKey(id), Size: 10_000, ContentType: "video/mp4"},
		UploadedAt: t0,
	}}
	tr := up.Transcoded(contract.Media{DurationSeconds: 8, Width: 1280, Height: 720, VideoCodec: "h264"},
		[]contract.Rendition{{Name: "720p", Width: 1280, Height: 720, Bitrate: 3_000_000, Key: contract.RenditionKey(id, "720p"), Size: 5000}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, t0.Add(time.Minute))
	return tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 1280, Height: 720, Size: 50_000},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "thumb.jpg", Width: 320, Height: 180, Size: 9_000},
	}, t0.Add(2*time.Minute))
}

func jsonOf(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestHandle(t *testing.T) {
	ctx := context.Background()
	cat := MustCatalog(t)
	w := NewWorker(cat, nil)
	clock := time.Date(2025, 5, 1, 9, 0, 0, 123456789, time.UTC)
	w.now = func() time.Time { return clock }

	in := thumbnailed()
	out, err := w.Handle(ctx, in)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if err := out.Validate(); err != nil {
		t.Errorf("output does not validate: %v", err)
	}
	if want := clock.Truncate(time.Microsecond); !out.ReadyAt.Equal(want) {
		t.Errorf("ready_at = %v, want %v", out.ReadyAt, want)
	}
	if out.VideoID != in.VideoID || out.Title != in.Title || out.Thumbnails.Poster != in.Thumbnails.Poster ||
		!out.ThumbnailedAt.Equal(in.ThumbnailedAt) || len(out.Renditions) != 1 {
		t.Errorf("output does not carry the input: %s", jsonOf(t, out))
	}
	// The published value is what the catalog holds.
	got, err := cat.Get(ctx, in.Owner, in.VideoID)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, got) != jsonOf(t, out) {
		t.Errorf("catalog document differs from the output:\n got %s\nwant %s", jsonOf(t, got), jsonOf(t, out))
	}

	// A replay, later: the same document, byte for byte.
	clock = clock.Add(time.Hour)
	again, err := w.Handle(ctx, in)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if jsonOf(t, again) != jsonOf(t, out) {
		t.Errorf("replay published another document:\n got %s\nwant %s", jsonOf(t, again), jsonOf(t, out))
	}
}

func TestHandleErrorClasses(t *testing.T) {
	ctx := context.Background()
	t.Run("invalid data is permanent", func(t *testing.T) {
		w := NewWorker(MustCatalog(t), nil)
		in := thumbnailed()
		in.Media.VideoCodec = "h264\x00" // passes events validation; PostgreSQL rejects NUL
		_, err := w.Handle(ctx, in)
		if !stage.IsPermanent(err) || stage.ErrorCode(err) != contract.ErrorCodeInvalidEvent {
			t.Errorf("err = %v, code %q, want permanent %q", err, stage.ErrorCode(err), contract.ErrorCodeInvalidEvent)
		}
	})
	t.Run("invalid thumbnailed event is invalid_event", func(t *testing.T) {
		w := NewWorker(MustCatalog(t), nil)
		in := thumbnailed()
		in.Title = ""
		_, err := w.Handle(ctx, in)
		if !stage.IsPermanent(err) || stage.ErrorCode(err) != contract.ErrorCodeInvalidEvent {
			t.Errorf("err = %v, code %q, want permanent %q", err, stage.ErrorCode(err), contract.ErrorCodeInvalidEvent)
		}
	})
	t.Run("database down is transient", func(t *testing.T) {
		pool, err := catalog.Connect(ctx, config.Postgres{URL: "postgres://x@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		_, err = NewWorker(catalog.New(pool), nil).Handle(ctx, thumbnailed())
		if err == nil || stage.IsPermanent(err) {
			t.Errorf("err = %v, want a transient error", err)
		}
	})
}
