package projection

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// TestCaptionTracksTable: tracks are kept per language (a second put
// replaces), only for the owner of a video that is not deleted; deleting
// one announces it before removing it (a failed announcement removes
// nothing); a dead letter of the indexer's video.captions consumer leaves
// the video's status alone.
func TestCaptionTracksTable(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	ctx := context.Background()
	c := newChain(t, "alice")
	for _, e := range []contract.Event{c.up, c.pl, c.tr, c.th, c.ready} {
		mustApply(t, s, eventRecord(t, e))
	}
	id := c.up.VideoID
	if _, _, err := s.PutCaption(ctx, "bob", id, Caption{Language: "en", Label: "English", Cues: 1, Bytes: 10}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("put by another owner: %v", err)
	}
	at1, replaced, err := s.PutCaption(ctx, "alice", id, Caption{Language: "en", Label: "English", Cues: 1, Bytes: 10, End: time.Second})
	if err != nil || replaced {
		t.Fatalf("put: %v %v", replaced, err)
	}
	at2, replaced, err := s.PutCaption(ctx, "alice", id, Caption{Language: "en", Label: "English (SDH)", Cues: 2, Bytes: 20, End: 2 * time.Second})
	if err != nil || !replaced || !at2.After(at1) {
		t.Fatalf("replace: %v %v (%s after %s)", replaced, err, at2, at1)
	}
	tracks, err := s.Captions(ctx, id)
	if err != nil || len(tracks) != 1 || tracks[0].Label != "English (SDH)" || tracks[0].Cues != 2 || tracks[0].End != 2*time.Second {
		t.Fatalf("tracks %+v %v", tracks, err)
	}

	// A dead letter of the indexer's video.captions consumer.
	ev := contract.VideoCaptions{SchemaVersion: contract.SchemaVersion, VideoID: id, Owner: "alice", Language: "en", Label: "x",
		ObjectKey: contract.CaptionKey(id, "en"), Cues: []contract.CaptionCue{{StartMS: 0, EndMS: 1, Text: "x"}}, UpdatedAt: time.Now()}
	mustApply(t, s, dlqRecord(t, contract.StageIndexer, ev, "catalog down", contract.ErrorClassExhausted))
	if st := mustGet(t, s, "alice", id); st.Status != StatusReady {
		t.Fatalf("status after a video.captions dead letter: %s, want ready", st.Status)
	}

	failed := errors.New("broker down")
	if err := s.DeleteCaption(ctx, "alice", id, "en", func(time.Time) error { return failed }); !errors.Is(err, failed) {
		t.Fatalf("delete with a failed announcement: %v", err)
	}
	if tracks, _ := s.Captions(ctx, id); len(tracks) != 1 {
		t.Fatalf("a failed announcement removed the track: %+v", tracks)
	}
	var announced time.Time
	if err := s.DeleteCaption(ctx, "alice", id, "en", func(at time.Time) error { announced = at; return nil }); err != nil {
		t.Fatal(err)
	}
	if !announced.After(at2) {
		t.Errorf("deletion time %s not after the track's %s", announced, at2)
	}
	if err := s.DeleteCaption(ctx, "alice", id, "en", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}

	// A deleted video takes no tracks.
	if _, err := s.MarkDeleted(ctx, "alice", id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutCaption(ctx, "alice", id, Caption{Language: "fr", Label: "fr", Cues: 1, Bytes: 1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("put to a deleted video: %v", err)
	}
}
