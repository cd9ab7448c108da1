package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/catalog"
)

func titles(rs []catalog.Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Document.Title
	}
	return out
}

func MustSearch(tb testing.TB, c *catalog.Catalog, owner, q string, limit int, after string) ([]catalog.Result, string) {
	tb.Helper()
	rs, next, err := c.Search(context.Background(), owner, q, limit, after)
	if err != nil {
		tb.Fatalf("search %q for %q: %v", q, owner, err)
	}
	return rs, next
}

func TestSearchRanksTitleOverTagsOverDescription(t *testing.T) {
	c := MustCatalog(t)
	MustUpsert(t, c, newDoc("alice", "Evening at the beach", "a quick sunset timelapse"))
	MustUpsert(t, c, newDoc("alice", "Sunset over the ocean", "waves"))
	MustUpsert(t, c, newDoc("alice", "Holiday clip", "", "sunset", "beach"))
	MustUpsert(t, c, newDoc("alice", "Unrelated", "mountains"))

	rs, next := MustSearch(t, c, "alice", "sunset", 10, "")
	want := []string{"Sunset over the ocean", "Holiday clip", "Evening at the beach"}
	if got := titles(rs); !slices.Equal(got, want) {
		t.Fatalf("ranking = %q, want %q", got, want)
	}
	if next != "" {
		t.Errorf("next cursor %q on the only page", next)
	}
	for i := 1; i < len(rs); i++ {
		if rs[i-1].Rank <= rs[i].Rank {
			t.Errorf("rank[%d]=%v not above rank[%d]=%v", i-1, rs[i-1].Rank, i, rs[i].Rank)
		}
	}
	// English stemming: "sunsets" finds "sunset".
	if rs, _ := MustSearch(t, c, "alice", "sunsets", 10, ""); len(rs) != 3 {
		t.Errorf("stemmed query found %q, want 3 videos", titles(rs))
	}
}

func TestSearchIsolatesOwners(t *testing.T) {
	c := MustCatalog(t)
	MustUpsert(t, c, newDoc("alice", "Alice's cat", ""))
	MustUpsert(t, c, newDoc("bob", "Bob's cat", ""))
	MustUpsert(t, c, newDoc("bob", "Bob's other cat", ""))

	tests := map[string]struct {
		owner, q string
		want     []string
	}{
		"alice sees only hers":   {"alice", "cat", []string{"Alice's cat"}},
		"bob sees only his":      {"bob", "cat", []string{"Bob's cat", "Bob's other cat"}},
		"stranger sees nothing":  {"mallory", "cat", nil},
		"listing is per owner":   {"alice", "", []string{"Alice's cat"}},
		"owner name is no query": {"alice", "bob", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rs, _ := MustSearch(t, c, tc.owner, tc.q, 10, "")
			got := titles(rs)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, _, err := c.Search(context.Background(), "", "cat", 10, ""); !errors.Is(err, catalog.ErrInvalidQuery) {
		t.Errorf("search without owner: err = %v, want ErrInvalidQuery", err)
	}
}

func TestSearchWebsearchSyntax(t *testing.T) {
	c := MustCatalog(t)
	MustUpsert(t, c, newDoc("alice", "Red car racing", ""))
	MustUpsert(t, c, newDoc("alice", "The car is red", ""))
	MustUpsert(t, c, newDoc("alice", "Blue car", "parked"))
	MustUpsert(t, c, newDoc("alice", "Dogs playing", ""))
	MustUpsert(t, c, newDoc("alice", "Cats sleeping", ""))

	tests := map[string]struct {
		q    string
		want []string
	}{
		"words are ANDed":     {"red car", []string{"Red car racing", "The car is red"}},
		"exclusion":           {"car -red", []string{"Blue car"}},
		"quoted phrase":       {`"red car"`, []string{"Red car racing"}},
		"or":                  {"dogs or cats", []string{"Cats sleeping", "Dogs playing"}},
		"description counts":  {"parked", []string{"Blue car"}},
		"stop words only":     {"the", nil},
		"no match":            {"submarine", nil},
		"punctuation is safe": {`car & | ! ( ) : * 'x`, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rs, _ := MustSearch(t, c, "alice", tc.q, 10, "")
			got := titles(rs)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("search %q = %q, want %q", tc.q, got, tc.want)
			}
		})
	}
}

// collect follows the cursors of a search to the end.
func collect(tb testing.TB, c *catalog.Catalog, owner, q string, limit int) (all []catalog.Result, pages int) {
	tb.Helper()
	after := ""
	for {
		rs, next := MustSearch(tb, c, owner, q, limit, after)
		if len(rs) > limit {
			tb.Fatalf("page of %d results, limit %d", len(rs), limit)
		}
		all = append(all, rs...)
		pages++
		if next == "" {
			return all, pages
		}
		if pages > 100 {
			tb.Fatal("pagination does not end")
		}
		after = next
	}
}

func TestSearchPaginatesWithoutDuplicates(t *testing.T) {
	c := MustCatalog(t)
	const n = 23
	want := map[string]bool{}
	for i := range n {
		// Three rank levels with many ties, so the id tie-breaker matters.
		var doc contract.VideoReady
		switch i % 3 {
		case 0:
			doc = newDoc("alice", fmt.Sprintf("Kitten %d", i), "")
		case 1:
			doc = newDoc("alice", fmt.Sprintf("Clip %d", i), "", "kitten")
		default:
			doc = newDoc("alice", fmt.Sprintf("Clip %d", i), "a kitten plays")
		}
		doc.ReadyAt = doc.ReadyAt.Add(time.Duration(i%4) * time.Minute) // ties in listing order too
		want[MustUpsert(t, c, doc).VideoID] = true
	}
	MustUpsert(t, c, newDoc("alice", "Puppy", ""))
	MustUpsert(t, c, newDoc("bob", "Kitten of bob", ""))

	for name, tc := range map[string]struct {
		q     string
		total int
	}{
		"ranked search": {"kitten", n},
		"listing":       {"", n + 1},
	} {
		t.Run(name, func(t *testing.T) {
			all, pages := collect(t, c, "alice", tc.q, 5)
			if len(all) != tc.total {
				t.Fatalf("collected %d results over %d pages, want %d", len(all), pages, tc.total)
			}
			if wantPages := (tc.total + 4) / 5; pages != wantPages {
				t.Errorf("pages = %d, want %d", pages, wantPages)
			}
			seen := map[string]bool{}
			for i, r := range all {
				if seen[r.Document.VideoID] {
					t.Errorf("duplicate %s (%q) at %d", r.Document.VideoID, r.Document.Title, i)
				}
				seen[r.Document.VideoID] = true
				if tc.q != "" && !want[r.Document.VideoID] {
					t.Errorf("unexpected result %q", r.Document.Title)
				}
				if i == 0 {
					continue
				}
				prev := all[i-1]
				if tc.q != "" && prev.Rank < r.Rank {
					t.Errorf("rank increases at %d: %v then %v", i, prev.Rank, r.Rank)
				}
				if tc.q == "" && prev.Document.ReadyAt.Before(r.Document.ReadyAt) {
					t.Errorf("listing not newest first at %d", i)
				}
			}
		})
	}
}

func TestSearchLimits(t *testing.T) {
	c := MustCatalog(t)
	for i := range catalog.DefaultLimit + 2 {
		MustUpsert(t, c, newDoc("alice", fmt.Sprintf("Owl %d", i), ""))
	}
	rs, next := MustSearch(t, c, "alice", "owl", 0, "")
	if len(rs) != catalog.DefaultLimit || next == "" {
		t.Errorf("limit 0: %d results, next=%q; want %d and a cursor", len(rs), next, catalog.DefaultLimit)
	}
	rs, _ = MustSearch(t, c, "alice", "owl", 10_000, "")
	if len(rs) != catalog.DefaultLimit+2 {
		t.Errorf("huge limit: %d results, want all %d", len(rs), catalog.DefaultLimit+2)
	}
	long := make([]byte, catalog.MaxQueryLen+1)
	for i := range long {
		long[i] = 'a'
	}
	if _, _, err := c.Search(context.Background(), "alice", string(long), 10, ""); !errors.Is(err, catalog.ErrInvalidQuery) {
		t.Errorf("over-long query: err = %v, want ErrInvalidQuery", err)
	}
}

func TestSearchRejectsForeignCursors(t *testing.T) {
	c := MustCatalog(t)
	for i := range 3 {
		MustUpsert(t, c, newDoc("alice", fmt.Sprintf("Fox %d", i), ""))
		MustUpsert(t, c, newDoc("bob", fmt.Sprintf("Fox %d", i), ""))
	}
	_, next := MustSearch(t, c, "alice", "fox", 1, "")
	_, listNext := MustSearch(t, c, "alice", "", 1, "")
	if next == "" || listNext == "" {
		t.Fatal("no cursor on a partial page")
	}
	tests := map[string]struct{ owner, q, cursor string }{
		"another query":          {"alice", "dog", next},
		"another owner":          {"bob", "fox", next},
		"listing cursor in text": {"alice", "fox", listNext},
		"garbage":                {"alice", "fox", "%%%not-base64"},
		"truncated":              {"alice", "fox", next[:len(next)/2]},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := c.Search(context.Background(), tc.owner, tc.q, 1, tc.cursor); !errors.Is(err, catalog.ErrInvalidCursor) {
				t.Errorf("err = %v, want ErrInvalidCursor", err)
			}
		})
	}
}
