package projection

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
)

// takeUntil takes states from sub until done says so, failing after 30s.
func takeUntil(tb testing.TB, sub *OwnerSubscription, done func(State) bool) []State {
	tb.Helper()
	var out []State
	timeout := time.After(30 * time.Second)
	for {
		select {
		case <-sub.Ready():
			for _, st := range sub.Take() {
				out = append(out, st)
				if done(st) {
					return out
				}
			}
		case <-sub.Done():
			tb.Fatal("subscription ended")
		case <-timeout:
			tb.Fatalf("no final state within 30s; got %d states", len(out))
		}
	}
}

// TestSubscribeOwnerAcrossStores: an owner-wide subscription of one
// replica receives, through LISTEN/NOTIFY, the changes another replica
// applies to any of the owner's videos, deletes included, and none of
// another owner's.
func TestSubscribeOwnerAcrossStores(t *testing.T) {
	url := MustNewDatabase(t)
	writer, reader := MustStore(t, url), MustStore(t, url)
	sub, cancel := reader.SubscribeOwner(context.Background(), "alice")
	defer cancel()
	a, b, bob := newChain(t, "alice"), newChain(t, "alice"), newChain(t, "bob")
	for _, e := range []contract.Event{a.up, bob.up, b.up, a.pl, bob.pl, b.pl, a.tr} {
		mustApply(t, writer, eventRecord(t, e))
	}
	if _, err := writer.MarkDeleted(context.Background(), "alice", b.up.VideoID, time.Now()); err != nil {
		t.Fatal(err)
	}
	seen := map[string][]int64{}
	var aDone, bDeleted bool
	takeUntil(t, sub, func(st State) bool {
		if st.Owner != "alice" || (st.VideoID != a.up.VideoID && st.VideoID != b.up.VideoID) {
			t.Fatalf("alice's subscription got %s of %s", st.VideoID, st.Owner)
		}
		if v := seen[st.VideoID]; len(v) > 0 && st.Version <= v[len(v)-1] {
			t.Fatalf("%s: v%d after v%d", st.VideoID, st.Version, v[len(v)-1])
		}
		seen[st.VideoID] = append(seen[st.VideoID], st.Version)
		aDone = aDone || (st.VideoID == a.up.VideoID && st.Status == StatusTranscoded)
		bDeleted = bDeleted || (st.VideoID == b.up.VideoID && st.Deleted)
		return aDone && bDeleted
	})
	cancel()
	select {
	case <-sub.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Done not closed after cancel")
	}
	cancel() // idempotent
}

// TestSubscribeOwnerAfterReconnect: after a database restart, a change
// another replica makes still arrives (by the notification once the
// listener is back, or by its catch-up when the change came first).
func TestSubscribeOwnerAfterReconnect(t *testing.T) {
	pg := harness.StartPostgres(t)
	url := harness.MustDatabase(t, pg)
	writer, reader := MustStore(t, url), MustStore(t, url)
	c := newChain(t, "alice")
	sub, cancel := reader.SubscribeOwner(context.Background(), "alice")
	defer cancel()
	mustApply(t, writer, eventRecord(t, c.up))
	takeUntil(t, sub, func(st State) bool { return st.Status == StatusUploaded })

	pg.Restart(t)
	eventually(t, 30*time.Second, "apply after restart", func() bool {
		return writer.Apply(context.Background(), eventRecord(t, c.tr)) == nil
	})
	takeUntil(t, sub, func(st State) bool { return st.Status == StatusTranscoded })
}

// TestListKeysetSurvivesDeletes: a video deleted between two pages
// neither shifts nor repeats the others.
func TestListKeysetSurvivesDeletes(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	ctx := context.Background()
	var ids []string // newest first
	for range 5 {
		c := newChain(t, "alice")
		mustApply(t, s, eventRecord(t, c.up))
		ids = append([]string{c.up.VideoID}, ids...)
	}
	page1, next, err := s.List(ctx, "alice", ListOptions{Limit: 2})
	if err != nil || len(page1) != 2 || next == "" {
		t.Fatalf("page 1: %d states, next %q, %v", len(page1), next, err)
	}
	// Delete the last of page 1 (the cursor's row) and the first of page 2.
	for _, id := range []string{ids[1], ids[2]} {
		if _, err := s.MarkDeleted(ctx, "alice", id, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	rest, next2, err := s.List(ctx, "alice", ListOptions{Limit: 2, Cursor: next})
	if err != nil || next2 != "" {
		t.Fatalf("page 2: next %q, %v", next2, err)
	}
	var got []string
	for _, st := range append(page1, rest...) {
		got = append(got, st.VideoID)
	}
	if want := []string{ids[0], ids[1], ids[3], ids[4]}; !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if _, _, err := s.List(ctx, "alice", ListOptions{Cursor: next, Status: "ready"}); err != ErrInvalidCursor {
		t.Fatalf("cursor with another filter: %v, want ErrInvalidCursor", err)
	}
}
