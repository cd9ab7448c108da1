package indexer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// TestHandleCaptions: cues that arrive before the video is indexed are
// found once it is, with their start; an invalid event is a permanent
// error; a deleted video's captions are dropped.
func TestHandleCaptions(t *testing.T) {
	cat := MustCatalog(t)
	w := NewWorker(cat, nil)
	ctx := context.Background()
	in := thumbnailed()
	ev := contract.VideoCaptions{SchemaVersion: contract.SchemaVersion, VideoID: in.VideoID, Owner: in.Owner, Language: "en",
		Label: "English", ObjectKey: contract.CaptionKey(in.VideoID, "en"), UpdatedAt: time.Now(),
		Cues: []contract.CaptionCue{{StartMS: 0, EndMS: 900, Text: "hello"}, {StartMS: 61_500, EndMS: 63_000, Text: "the zebra crossing"}}}
	if _, err := w.HandleCaptions(ctx, ev); !errors.Is(err, stage.ErrNoOutput) {
		t.Fatalf("HandleCaptions: %v, want ErrNoOutput", err)
	}
	if _, err := w.Handle(ctx, in); err != nil {
		t.Fatal(err)
	}
	rs, _, err := cat.Search(ctx, in.Owner, "zebra", 10, "")
	if err != nil || len(rs) != 1 || len(rs[0].CaptionHits) != 1 || rs[0].CaptionHits[0].StartMS != 61_500 || rs[0].CaptionHits[0].Language != "en" {
		t.Fatalf("search after indexing: %+v, %v", rs, err)
	}

	bad := ev
	bad.ObjectKey = "videos/elsewhere.vtt"
	_, err = w.HandleCaptions(ctx, bad)
	if err == nil || !stage.IsPermanent(err) {
		t.Fatalf("invalid event: %v, want a permanent error", err)
	}

	del := contract.VideoDeleted{SchemaVersion: contract.SchemaVersion, VideoID: in.VideoID, Owner: in.Owner, DeletedAt: time.Now()}
	if _, err := w.HandleDeleted(ctx, del); !errors.Is(err, stage.ErrNoOutput) {
		t.Fatal(err)
	}
	ev.UpdatedAt = time.Now().Add(time.Minute)
	if _, err := w.HandleCaptions(ctx, ev); !errors.Is(err, stage.ErrNoOutput) {
		t.Fatalf("captions of a deleted video: %v, want ErrNoOutput", err)
	}
}
