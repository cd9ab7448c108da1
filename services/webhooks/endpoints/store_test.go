package endpoints

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

func TestValidTypes(t *testing.T) {
	tests := map[string]struct {
		in   []string
		want []string
		ok   bool
	}{
		"one":            {[]string{"video.ready"}, []string{"video.ready"}, true},
		"several":        {[]string{"video.failed", "video.ready"}, []string{"video.failed", "video.ready"}, true},
		"duplicates":     {[]string{"video.ready", "video.ready"}, []string{"video.ready"}, true},
		"star":           {[]string{"*"}, []string{"*"}, true},
		"every type":     {EventTypes, EventTypes, true},
		"none":           {nil, nil, false},
		"unknown":        {[]string{"video.exploded"}, nil, false},
		"star and more":  {[]string{"*", "video.ready"}, nil, false},
		"case matters":   {[]string{"Video.Ready"}, nil, false},
		"topic not type": {[]string{"video.transcode.dlq"}, nil, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := validTypes(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("validTypes(%v) = %v, %v; want ok=%v", tc.in, got, err, tc.ok)
			}
			if tc.ok && len(got) != len(tc.want) {
				t.Errorf("validTypes(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func mustStore(t *testing.T) (*Store, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, harness.MustDatabase(t, harness.SharedPostgres(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	return NewStore(pool), pool
}

// TestClaimSharesTheQueue: claimers (as several processes would) never get
// the same delivery while its lease runs, and each claim takes at most
// perEndpoint minus what the caller has in flight of one endpoint, so one
// endpoint's backlog does not crowd out another's.
func TestClaimSharesTheQueue(t *testing.T) {
	ctx := context.Background()
	s, _ := mustStore(t)
	a, _, err := s.Create(ctx, "alice", NewEndpoint{URL: "https://a.example/", EventTypes: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.Create(ctx, "alice", NewEndpoint{URL: "https://b.example/", EventTypes: []string{"video.ready"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		typ := "video.uploaded"
		if i == 5 {
			typ = "video.ready"
		}
		n, err := s.Record(ctx, Event{ID: contract.NewID(), Owner: "alice", Type: typ, VideoID: contract.NewID(), Topic: typ, Time: time.Now(), Body: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 2, false: 1}[typ == "video.ready"]; n != want {
			t.Fatalf("event %d enqueued %d deliveries, want %d", i, n, want)
		}
	}
	// A: 6 deliveries, B: 1.
	first, err := s.Claim(ctx, 10, 2, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, j := range first {
		per[j.EndpointID]++
		if j.Attempt != 1 || len(j.Secrets) != 1 || len(j.Event.Body) == 0 {
			t.Errorf("job %+v", j)
		}
	}
	if per[a.ID] != 2 || per[b.ID] != 1 {
		t.Fatalf("first claim took %v, want 2 of A and 1 of B", per)
	}
	if got, _ := s.Claim(ctx, 10, 2, map[string]int{a.ID: 2}, time.Minute); len(got) != 0 {
		t.Errorf("a claimer with 2 of A in flight got %d more", len(got))
	}

	// Concurrent claimers split the rest without overlap.
	seen := map[int64]bool{}
	for _, j := range first {
		seen[j.DeliveryID] = true
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	dup := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				jobs, err := s.Claim(ctx, 10, 1, nil, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, j := range jobs {
					if seen[j.DeliveryID] {
						dup++
					}
					seen[j.DeliveryID] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if dup != 0 || len(seen) != 7 {
		t.Errorf("claimed %d distinct deliveries with %d duplicates, want all 7 once", len(seen), dup)
	}
	if got, _ := s.Claim(ctx, 10, 2, nil, time.Minute); len(got) != 0 {
		t.Errorf("claimed %d leased deliveries", len(got))
	}
	// A released job is due again, its claim not counted.
	if err := s.Release(ctx, first[0].DeliveryID); err != nil {
		t.Fatal(err)
	}
	again, err := s.Claim(ctx, 10, 2, nil, time.Minute)
	if err != nil || len(again) != 1 || again[0].DeliveryID != first[0].DeliveryID || again[0].Attempt != 1 {
		t.Errorf("after Release: %+v, %v", again, err)
	}
}

// TestCreateLimitHoldsUnderConcurrency: concurrent creates of one owner
// never pass NewEndpoint.Max together (the count and the insert are one
// step under a per-owner lock); another owner is not limited by them.
// With a count followed by a separate insert, 12 concurrent creates with
// Max 3 stored more than 3.
func TestCreateLimitHoldsUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	s, _ := mustStore(t)
	owner := "carol-" + contract.NewID()[:8]
	const max, tries = 3, 12
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		limited int
	)
	for range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Create(ctx, owner, NewEndpoint{URL: "https://c.example/", EventTypes: []string{"*"}, Max: max})
			var le *LimitError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case errors.As(err, &le) && le.Count == max:
				limited++
			default:
				t.Errorf("Create: %v", err)
			}
		}()
	}
	wg.Wait()
	if created != max || limited != tries-max {
		t.Errorf("%d concurrent creates with Max %d: %d created, %d refused; want %d and %d", tries, max, created, limited, max, tries-max)
	}
	if n, err := s.Count(ctx, owner); err != nil || n != max {
		t.Errorf("Count = %d, %v; want %d", n, err, max)
	}
	if _, _, err := s.Create(ctx, owner+"-other", NewEndpoint{URL: "https://c.example/", EventTypes: []string{"*"}, Max: max}); err != nil {
		t.Errorf("another owner's create: %v", err)
	}
}
