package indexer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// TestLifecycleHandlers: an edit recorded before the video is ready is in
// the document the indexer publishes; a deleted video is removed, and its
// late video.thumbnailed indexes nothing and publishes nothing.
func TestLifecycleHandlers(t *testing.T) {
	cat := MustCatalog(t)
	w := NewWorker(cat, nil)
	ctx := context.Background()
	in := thumbnailed()
	v := in.Video
	v.Title, v.Tags = "Anniversary", []string{"party"}
	if _, err := w.HandleUpdated(ctx, contract.VideoUpdated{SchemaVersion: contract.SchemaVersion, Video: v, UpdatedAt: time.Now()}); !errors.Is(err, stage.ErrNoOutput) {
		t.Fatalf("HandleUpdated: %v, want ErrNoOutput", err)
	}
	out, err := w.Handle(ctx, in)
	if err != nil || out.Title != "Anniversary" || len(out.Tags) != 1 || out.Tags[0] != "party" {
		t.Fatalf("video.ready after an early edit: %q %v (%v)", out.Title, out.Tags, err)
	}
	del := contract.VideoDeleted{SchemaVersion: contract.SchemaVersion, VideoID: in.VideoID, Owner: "alice", DeletedAt: time.Now()}
	for range 2 { // a redelivery removes nothing more
		if _, err := w.HandleDeleted(ctx, del); !errors.Is(err, stage.ErrNoOutput) {
			t.Fatalf("HandleDeleted: %v, want ErrNoOutput", err)
		}
	}
	if _, err := cat.Get(ctx, "alice", in.VideoID); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("catalog row after delete: %v", err)
	}
	if _, err := w.Handle(ctx, in); !errors.Is(err, stage.ErrNoOutput) {
		t.Fatalf("late video.thumbnailed: %v, want ErrNoOutput", err)
	}
	if _, err := cat.Get(ctx, "alice", in.VideoID); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("a late upsert brought the row back: %v", err)
	}
	if gone, err := (Fence{Catalog: cat}).Deleted(ctx, in.VideoID); err != nil || !gone {
		t.Fatalf("fence: %v %v", gone, err)
	}
	if _, err := w.HandleUpdated(ctx, contract.VideoUpdated{SchemaVersion: contract.SchemaVersion, Video: v, UpdatedAt: time.Now()}); !errors.Is(err, stage.ErrNoOutput) {
		t.Fatalf("edit of a deleted video: %v, want ErrNoOutput", err)
	}
}
