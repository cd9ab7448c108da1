package catalog_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/catalog"
)

func captionsEvent(doc contract.VideoReady, lang string, at time.Time, cues ...contract.CaptionCue) contract.VideoCaptions {
	return contract.VideoCaptions{SchemaVersion: contract.SchemaVersion, VideoID: doc.VideoID, Owner: doc.Owner,
		Language: lang, Label: lang, ObjectKey: contract.CaptionKey(doc.VideoID, lang), Cues: cues, UpdatedAt: at}
}

func mustPutCaptions(tb testing.TB, c *catalog.Catalog, ev contract.VideoCaptions, wantApplied bool) {
	tb.Helper()
	applied, err := c.PutCaptions(context.Background(), ev)
	if err != nil || applied != wantApplied {
		tb.Fatalf("PutCaptions %s %s: applied %v, %v; want applied %v", ev.VideoID, ev.Language, applied, err, wantApplied)
	}
}

// TestSearchFindsCaptionCues: a video is found by the text of its caption
// cues, with the matching cues (language, start, text); a match in the
// title ranks above a match in captions only; an older change of a track
// is a replay; a deleted track is no longer found; the owner's other
// videos and other owners' cues are not.
func TestSearchFindsCaptionCues(t *testing.T) {
	c := MustCatalog(t)
	ctx := context.Background()
	captioned := MustUpsert(t, c, newDoc("alice", "Holiday clip", "waves"))
	titled := MustUpsert(t, c, newDoc("alice", "Penguins on ice", ""))
	bobs := MustUpsert(t, c, newDoc("bob", "Bob's clip", ""))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	mustPutCaptions(t, c, captionsEvent(captioned, "en", t0,
		contract.CaptionCue{StartMS: 0, EndMS: 1500, Text: "Look at the sea"},
		contract.CaptionCue{StartMS: 1500, EndMS: 3000, Text: "Two penguins are swimming"},
		contract.CaptionCue{StartMS: 3000, EndMS: 4000, Text: "A penguin dives"}), true)
	mustPutCaptions(t, c, captionsEvent(captioned, "fr", t0, contract.CaptionCue{StartMS: 2000, EndMS: 2500, Text: "Des manchots (penguins)"}), true)
	mustPutCaptions(t, c, captionsEvent(bobs, "en", t0, contract.CaptionCue{StartMS: 0, EndMS: 1000, Text: "penguin"}), true)

	rs, _ := MustSearch(t, c, "alice", "penguin", 10, "")
	if got := titles(rs); !slices.Equal(got, []string{"Penguins on ice", "Holiday clip"}) {
		t.Fatalf("results %q, want the title match above the caption match", got)
	}
	if len(rs[0].CaptionHits) != 0 {
		t.Errorf("caption hits of a video without captions: %+v", rs[0].CaptionHits)
	}
	want := []catalog.CaptionHit{{"en", 1500, "Two penguins are swimming"}, {"fr", 2000, "Des manchots (penguins)"}, {"en", 3000, "A penguin dives"}}
	if !slices.Equal(rs[1].CaptionHits, want) {
		t.Fatalf("caption hits %+v, want %+v", rs[1].CaptionHits, want)
	}
	// Paging through keeps the order (the rank in the cursor is the sum).
	p1, next := MustSearch(t, c, "alice", "penguin", 1, "")
	p2, _ := MustSearch(t, c, "alice", "penguin", 1, next)
	if len(p1) != 1 || len(p2) != 1 || p1[0].Document.VideoID != titled.VideoID || p2[0].Document.VideoID != captioned.VideoID {
		t.Fatalf("pages %q then %q", titles(p1), titles(p2))
	}

	// An older change of the en track is a replay: nothing changes.
	mustPutCaptions(t, c, captionsEvent(captioned, "en", t0.Add(-time.Second), contract.CaptionCue{StartMS: 0, EndMS: 1000, Text: "walrus"}), false)
	if rs, _ := MustSearch(t, c, "alice", "walrus", 10, ""); len(rs) != 0 {
		t.Fatalf("an older change was applied: %q", titles(rs))
	}
	// A newer one replaces the track's cues.
	mustPutCaptions(t, c, captionsEvent(captioned, "en", t0.Add(time.Second), contract.CaptionCue{StartMS: 500, EndMS: 1000, Text: "walrus"}), true)
	rs, _ = MustSearch(t, c, "alice", "walrus", 10, "")
	if len(rs) != 1 || !slices.Equal(rs[0].CaptionHits, []catalog.CaptionHit{{"en", 500, "walrus"}}) {
		t.Fatalf("after replacing en: %+v", rs)
	}
	// Deleting the fr track: only en is left, which no longer says penguin.
	del := captionsEvent(captioned, "fr", t0.Add(time.Second))
	del.Deleted, del.Label = true, ""
	mustPutCaptions(t, c, del, true)
	if rs, _ := MustSearch(t, c, "alice", "penguin", 10, ""); !slices.Equal(titles(rs), []string{"Penguins on ice"}) {
		t.Fatalf("after deleting fr: %q", titles(rs))
	}
	// A late older fr change does not bring it back.
	mustPutCaptions(t, c, captionsEvent(captioned, "fr", t0, contract.CaptionCue{StartMS: 0, EndMS: 1000, Text: "penguins"}), false)

	// Deleting the video removes its cues; later changes are refused.
	if err := c.Delete(ctx, captioned.VideoID, "alice", time.Now()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.Pool().QueryRow(ctx, `SELECT count(*) FROM caption_cues WHERE video_id = $1`, captioned.VideoID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("cues of a deleted video: %d, %v", n, err)
	}
	if _, err := c.PutCaptions(ctx, captionsEvent(captioned, "de", t0.Add(time.Hour), contract.CaptionCue{StartMS: 0, EndMS: 1000, Text: "x"})); !errors.Is(err, catalog.ErrDeleted) {
		t.Fatalf("PutCaptions of a deleted video: %v, want ErrDeleted", err)
	}
}
