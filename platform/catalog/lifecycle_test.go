package catalog_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/catalog"
)

func edit(doc contract.VideoReady, title string, at time.Time) contract.VideoUpdated {
	v := doc.Video
	v.Title, v.Description, v.Tags = title, "edited "+title, []string{"edited"}
	return contract.VideoUpdated{SchemaVersion: contract.SchemaVersion, Video: v, UpdatedAt: at}
}

func searchIDs(t *testing.T, c *catalog.Catalog, owner, q string) []string {
	t.Helper()
	rs, _ := MustSearch(t, c, owner, q, 10, "")
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.Document.VideoID)
	}
	return ids
}

func TestDeleteFencesLaterUpserts(t *testing.T) {
	c := MustCatalog(t)
	ctx := context.Background()
	doc := newDoc("alice", "Volcano timelapse", "lava")
	MustUpsert(t, c, doc)
	for range 2 { // idempotent
		if err := c.Delete(ctx, doc.VideoID, "alice", time.Now()); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if _, err := c.Get(ctx, "alice", doc.VideoID); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	// A late video.thumbnailed (a redelivery, a stage that was behind).
	if _, _, err := c.Upsert(ctx, doc); !errors.Is(err, catalog.ErrDeleted) {
		t.Fatalf("upsert after delete: %v, want ErrDeleted", err)
	}
	if ids := searchIDs(t, c, "alice", "volcano"); len(ids) != 0 {
		t.Fatalf("search finds the deleted video: %v", ids)
	}
	if gone, err := c.Deleted(ctx, doc.VideoID); err != nil || !gone {
		t.Fatalf("Deleted = %v, %v", gone, err)
	}
	if _, err := c.Edit(ctx, edit(doc, "Again", time.Now())); !errors.Is(err, catalog.ErrDeleted) {
		t.Fatalf("edit after delete: %v, want ErrDeleted", err)
	}
}

// TestDeleteAndUpsertRace: whatever order a concurrent delete and upsert
// take, the video ends up absent.
func TestDeleteAndUpsertRace(t *testing.T) {
	c := MustCatalog(t)
	ctx := context.Background()
	for range 20 {
		doc := newDoc("alice", "Race", "")
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, _, _ = c.Upsert(ctx, doc) }()
		go func() {
			defer wg.Done()
			if err := c.Delete(ctx, doc.VideoID, "alice", time.Now()); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		if _, err := c.Get(ctx, "alice", doc.VideoID); !errors.Is(err, catalog.ErrNotFound) {
			t.Fatalf("video present after a delete raced an upsert: %v", err)
		}
	}
}

func TestEditWinsOverOlderMetadata(t *testing.T) {
	c := MustCatalog(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	// Edited before it reached the catalog: the upsert stores the edit.
	early := newDoc("alice", "Raw upload title", "")
	if ok, err := c.Edit(ctx, edit(early, "Harbour at dawn", t0)); err != nil || !ok {
		t.Fatalf("edit before upsert: %v %v", ok, err)
	}
	if got := MustUpsert(t, c, early); got.Title != "Harbour at dawn" || got.Description != "edited Harbour at dawn" {
		t.Fatalf("upsert after edit stored %q / %q", got.Title, got.Description)
	}
	if ids := searchIDs(t, c, "alice", "harbour"); len(ids) != 1 || ids[0] != early.VideoID {
		t.Fatalf("search for the edited title: %v", ids)
	}

	// Edited once ready: the entry changes at once.
	doc := newDoc("alice", "Beach", "")
	MustUpsert(t, c, doc)
	if ok, err := c.Edit(ctx, edit(doc, "Glacier walk", t0.Add(time.Minute))); err != nil || !ok {
		t.Fatalf("edit: %v %v", ok, err)
	}
	if ids := searchIDs(t, c, "alice", "glacier"); len(ids) != 1 || ids[0] != doc.VideoID {
		t.Fatalf("search for the new title: %v", ids)
	}
	if ids := searchIDs(t, c, "alice", "beach"); len(ids) != 0 {
		t.Fatalf("search still finds the old title: %v", ids)
	}
	// An older edit arriving late, and the pipeline's old metadata again
	// (a redelivered video.thumbnailed), change nothing.
	if ok, err := c.Edit(ctx, edit(doc, "Stale edit", t0)); err != nil || ok {
		t.Fatalf("older edit applied: %v %v", ok, err)
	}
	if got := MustUpsert(t, c, doc); got.Title != "Glacier walk" {
		t.Fatalf("a replayed upsert overwrote the edit: %q", got.Title)
	}
	got, err := c.Get(ctx, "alice", doc.VideoID)
	if err != nil || got.Title != "Glacier walk" || len(got.Tags) != 1 || got.Tags[0] != "edited" {
		t.Fatalf("get: %+v %v", got.Video, err)
	}
}
