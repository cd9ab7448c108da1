package projection

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

func TestDeletedVideoKeepsATombstoneAndDropsLateEvents(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	ctx := context.Background()
	c := newChain(t, "alice")
	mustApply(t, s, eventRecord(t, c.up))
	mustApply(t, s, eventRecord(t, c.pl))
	before, err := s.Usage(ctx, "alice", time.Hour)
	if err != nil || before.StoredBytes != c.up.Source.Size {
		t.Fatalf("usage before delete: %+v %v", before, err)
	}
	ch, cancel := s.Subscribe(ctx, c.up.VideoID)
	defer cancel()
	<-ch // the current state

	if _, err := s.MarkDeleted(ctx, "bob", c.up.VideoID, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete by another owner: %v, want ErrNotFound", err)
	}
	st, err := s.MarkDeleted(ctx, "alice", c.up.VideoID, time.Now())
	if err != nil || !st.Deleted {
		t.Fatalf("delete: %+v %v", st, err)
	}
	select {
	case got := <-ch:
		if !got.Deleted {
			t.Fatalf("subscriber got %+v, want the deleted state", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber not told about the delete")
	}
	if _, err := s.MarkDeleted(ctx, "alice", c.up.VideoID, time.Now()); err != nil {
		t.Fatalf("delete again: %v", err)
	}
	if _, err := s.Get(ctx, "alice", c.up.VideoID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	// Events still in flight are dropped; nothing is resurrected.
	for _, e := range []contract.Event{c.tr, c.th, c.ready} {
		mustApply(t, s, eventRecord(t, e))
	}
	mustApply(t, s, dlqRecord(t, contract.StageThumbnail, c.tr, "boom", contract.ErrorClassPermanent))
	if _, err := s.Get(ctx, "alice", c.up.VideoID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after late events: %v, want ErrNotFound", err)
	}
	raw, _ := s.load(ctx, c.up.VideoID)
	if !raw.Deleted || raw.Status != StatusPlayable {
		t.Fatalf("stored state after late events: deleted %v status %s, want the tombstone at playable", raw.Deleted, raw.Status)
	}
	if _, err := s.Edit(ctx, "alice", c.up.VideoID, Edit{Title: "x", UpdatedAt: time.Now()}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("edit of a deleted video: %v, want ErrNotFound", err)
	}
	after, err := s.Usage(ctx, "alice", time.Hour)
	if err != nil || after.StoredBytes != 0 {
		t.Fatalf("usage after delete: %+v %v, want the source no longer counted", after, err)
	}
}

// TestDeleteBeforeTheFirstEvent: an upload deleted before its
// video.uploaded was projected (an unfinished tus upload) gets a tombstone
// row; its reservation is released and its later events are dropped.
func TestDeleteBeforeTheFirstEvent(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	ctx := context.Background()
	c := newChain(t, "alice")
	if _, _, err := s.Reserve(ctx, "alice", c.up.VideoID, 100, 100, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if owner, err := s.ReservationOwner(ctx, c.up.VideoID); err != nil || owner != "alice" {
		t.Fatalf("reservation owner: %q %v", owner, err)
	}
	if _, err := s.MarkDeleted(ctx, "alice", c.up.VideoID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Usage(ctx, "alice", time.Hour); err != nil || u.Total() != 0 {
		t.Fatalf("usage: %+v %v, want the reservation released", u, err)
	}
	mustApply(t, s, eventRecord(t, c.up))
	if _, err := s.Get(ctx, "alice", c.up.VideoID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get: %v, want ErrNotFound", err)
	}
	if owner, deleted, err := s.Owner(ctx, c.up.VideoID); err != nil || owner != "alice" || !deleted {
		t.Fatalf("owner: %q %v %v", owner, deleted, err)
	}
}

// TestEditSurvivesLaterEvents: an edit made mid-pipeline shows at once and
// stays when later events carrying the upload's metadata are applied.
func TestEditSurvivesLaterEvents(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	ctx := context.Background()
	c := newChain(t, "alice")
	mustApply(t, s, eventRecord(t, c.up))
	t0 := time.Now().UTC()
	if _, err := s.Edit(ctx, "bob", c.up.VideoID, Edit{Title: "x", UpdatedAt: t0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("edit by another owner: %v", err)
	}
	st, err := s.Edit(ctx, "alice", c.up.VideoID, Edit{Title: "Sunset", Description: "orange", Tags: []string{"sky"}, UpdatedAt: t0})
	if err != nil || st.Uploaded.Title != "Sunset" || st.Edited.IsZero() {
		t.Fatalf("edit: %+v %v", st.Uploaded, err)
	}
	// An older edit loses.
	if st, err := s.Edit(ctx, "alice", c.up.VideoID, Edit{Title: "Older", UpdatedAt: t0.Add(-time.Minute)}); err != nil || st.Uploaded.Title != "Sunset" {
		t.Fatalf("older edit: %q %v", st.Uploaded.Title, err)
	}
	for _, e := range []contract.Event{c.pl, c.tr, c.th, c.ready} {
		mustApply(t, s, eventRecord(t, e))
	}
	got := mustGet(t, s, "alice", c.up.VideoID)
	if got.Status != StatusReady || got.Ready == nil {
		t.Fatalf("status %s, want ready with its document", got.Status)
	}
	for name, v := range map[string]contract.Video{"uploaded": got.Uploaded.Video, "ready": got.Ready.Video} {
		if v.Title != "Sunset" || v.Description != "orange" || len(v.Tags) != 1 || v.Tags[0] != "sky" {
			t.Errorf("%s document after the pipeline: %q %q %v, want the edit", name, v.Title, v.Description, v.Tags)
		}
	}
}

// TestConcurrentPatchesLoseNothing: each patch merges into the metadata
// the previous one left (the row's lock), so every concurrent tag is kept
// and the edits' times grow.
func TestConcurrentPatchesLoseNothing(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	ctx := context.Background()
	c := newChain(t, "alice")
	mustApply(t, s, eventRecord(t, c.up))
	const n = 8
	errs := make(chan error, n)
	same := time.Now() // every patch asks for the same time
	for i := range n {
		go func() {
			_, _, err := s.Patch(ctx, "alice", c.up.VideoID, same, func(v contract.Video) (contract.Video, error) {
				v.Tags = append(v.Tags, fmt.Sprintf("tag%d", i))
				return v, nil
			})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := mustGet(t, s, "alice", c.up.VideoID)
	if len(st.Uploaded.Tags) != 1+n { // "test" from the upload, then one per patch
		t.Fatalf("tags after %d concurrent patches: %v", n, st.Uploaded.Tags)
	}
	if !st.Edited.After(same.Truncate(time.Microsecond)) {
		t.Errorf("edited %v, want later than the asked time after %d patches", st.Edited, n)
	}
	if _, _, err := s.Patch(ctx, "bob", c.up.VideoID, time.Now(), func(v contract.Video) (contract.Video, error) { return v, nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("patch by another owner: %v", err)
	}
}
